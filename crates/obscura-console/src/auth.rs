//! The run's secrets and the guard every request passes (see the crate's
//! Security section).

use crate::error::ConsoleError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The token, the CSRF token, and where the console may be addressed.
#[derive(Debug)]
pub(crate) struct Auth {
    token: String,
    csrf: String,
    cookie: String,
    /// `Host` header values that name this console.
    hosts: Vec<String>,
    /// The port, when listening on every address.
    any_ip_on_port: Option<u16>,
    url: String,
}

/// 32 random bytes as hex.
fn secret() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConsoleError::Config(format!("no random numbers for the token: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Equal strings, compared in time that does not depend on where they
/// differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Auth {
    pub(crate) fn new(addr: SocketAddr) -> Result<Auth, ConsoleError> {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() {
            hosts.extend([
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]);
        }
        hosts.dedup();
        let token = secret()?;
        let url = format!("http://{addr}/?token={token}");
        Ok(Auth {
            token,
            csrf: secret()?,
            cookie: format!("obscura_console_{port}"),
            hosts,
            any_ip_on_port: addr.ip().is_unspecified().then_some(port),
            url,
        })
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    pub(crate) fn cookie_name(&self) -> &str {
        &self.cookie
    }

    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// Refuses a form whose CSRF token is not this run's.
    pub(crate) fn check_csrf(&self, given: &str) -> Result<(), ConsoleError> {
        if same(given, &self.csrf) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(
                "the form's CSRF token is missing or wrong (reload the page)".into(),
            ))
        }
    }

    /// Whether a `Host` header names this console: its address (or, on a
    /// loopback address, `localhost`); on an unspecified address
    /// (`0.0.0.0`) any IP address with its port, never a name (a name could
    /// be rebound to this machine by a web page).
    fn host_ok(&self, host: &str) -> bool {
        if self.hosts.iter().any(|h| h == host) {
            return true;
        }
        self.any_ip_on_port
            .is_some_and(|port| host.parse::<SocketAddr>().is_ok_and(|a| a.port() == port))
    }

    fn cookie_token<'r>(&self, req: &'r Request) -> Option<&'r str> {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

/// `uri`'s path and query without its `token` parameter.
fn without_token(uri: &axum::http::Uri) -> String {
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("token="))
        .collect();
    if rest.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), rest.join("&"))
    }
}

/// The guard in front of every route.
pub(crate) async fn guard(
    State(state): State<Arc<crate::pages::AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let auth = &state.auth;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !auth.host_ok(host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this console answers only to the address it printed",
        );
    }
    let from_url = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("token="));
    if let Some(given) = from_url {
        if !same(given, &auth.token) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "wrong token: open the URL `obscura console` printed",
            );
        }
        // Into a cookie, out of the address bar and history.
        let cookie = format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            auth.cookie, auth.token
        );
        let mut resp = (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, without_token(req.uri()))],
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return with_headers(resp);
    }
    if !auth
        .cookie_token(&req)
        .is_some_and(|t| same(t, &auth.token))
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "no valid token: open the URL `obscura console` printed",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok());
        if let Some(o) = origin {
            let ok = o.strip_prefix("http://").is_some_and(|h| auth.host_ok(h));
            if !ok {
                return refuse(StatusCode::FORBIDDEN, "cross-site request refused");
            }
        }
    }
    with_headers(next.run(req).await)
}

/// Security headers on every response.
fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; media-src 'self'; \
             style-src 'self' 'unsafe-inline'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it, Chromium sends `Origin: null` on the
        // console's own form posts, which the origin check must refuse.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }

    #[test]
    fn the_token_leaves_the_address_and_the_rest_stays() {
        let uri: axum::http::Uri = "/report?token=x&month=2026-11".parse().expect("uri");
        assert_eq!(without_token(&uri), "/report?month=2026-11");
        let uri: axum::http::Uri = "/?token=x".parse().expect("uri");
        assert_eq!(without_token(&uri), "/");
    }
}
