//! The page templates, compiled into the binary (no files to find at run
//! time). Names ending in `.html` are auto-escaped.

use minijinja::Environment;
use std::sync::OnceLock;

const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", include_str!("../templates/base.html")),
    (
        "incidents.html",
        include_str!("../templates/incidents.html"),
    ),
    ("incident.html", include_str!("../templates/incident.html")),
    ("report.html", include_str!("../templates/report.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("media.html", include_str!("../templates/media.html")),
    ("exported.html", include_str!("../templates/exported.html")),
    ("reviews.html", include_str!("../templates/reviews.html")),
    ("review.html", include_str!("../templates/review.html")),
    ("style.css", include_str!("../templates/style.css")),
];

/// The environment with every template loaded.
pub(crate) fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The sources are part of the binary and checked by the tests
            // that render every page; a broken one fails there, and here it
            // is left out rather than taking the console down.
            let _ = env.add_template(name, source);
        }
        env
    })
}

/// Renders template `name` with `ctx`.
pub(crate) fn render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    env().get_template(name)?.render(ctx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        let mut env = minijinja::Environment::new();
        for (name, source) in super::TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
