//! Everything that touches ONNX Runtime (through `ort`) lives in this module.
//!
//! The runtime is a shared library loaded at run time (`ort`'s
//! `load-dynamic`), found in this order: the path given to [`init`],
//! `$OBSCURA_ORT_LIB`, then `$OBSCURA_HOME/lib/libonnxruntime.so.*` where the
//! setup puts it. A missing or broken library is an error that says to run
//! the setup, never a panic.
//!
//! The models' working memory comes from one arena per process
//! (`$OBSCURA_ORT_ARENA` unset, empty or `shared`), or from one arena per
//! session (`per-session`); see [`register_shared_arena`].

use crate::error::{Error, ErrorKind, Result};
use ndarray::{Array4, ArrayD, ArrayView4, ArrayViewMut4, Ix4};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Runtime {
    path: PathBuf,
    env: ort::environment::Environment,
    /// Sessions allocate from the environment's one arena
    /// ([`register_shared_arena`]) rather than each from its own.
    shared_arena: bool,
}

/// How the models' working memory is held, from `$OBSCURA_ORT_ARENA`:
/// `shared` (the default, also when unset or empty) or `per-session`.
fn arena_setting() -> std::result::Result<bool, String> {
    let invalid = |v: &dyn std::fmt::Debug| {
        format!("invalid OBSCURA_ORT_ARENA {v:?} (expected `shared` or `per-session`)")
    };
    match std::env::var("OBSCURA_ORT_ARENA") {
        Err(std::env::VarError::NotPresent) => Ok(true),
        Err(std::env::VarError::NotUnicode(v)) => Err(invalid(&v)),
        Ok(v) => match v.as_str() {
            "" | "shared" => Ok(true),
            "per-session" => Ok(false),
            _ => Err(invalid(&v)),
        },
    }
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

fn find_library(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("OBSCURA_ORT_LIB").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = crate::home().join("lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().ok_or_else(|| {
        Error::new(
            ErrorKind::Runtime,
            format!(
                "ONNX Runtime library not found in {} (run `bash scripts/setup.sh`, or set OBSCURA_ORT_LIB)",
                dir.display()
            ),
        )
    })
}

/// Loads ONNX Runtime once per process and returns the library's path.
/// Later calls return the first result, whatever path they pass.
///
/// # Errors
/// `Runtime` when the library is missing or cannot be loaded.
pub fn init(library: Option<&Path>) -> Result<PathBuf> {
    runtime(library).map(|r| r.path.clone())
}

/// How the models' working memory is held in this process, in words:
/// `one shared arena` or `one arena per session` (`$OBSCURA_ORT_ARENA`),
/// loading ONNX Runtime as [`init`] does.
///
/// # Errors
/// As [`init`], including an invalid `$OBSCURA_ORT_ARENA`.
pub fn arena_mode() -> Result<&'static str> {
    runtime(None).map(|r| {
        if r.shared_arena {
            "one shared arena"
        } else {
            "one arena per session"
        }
    })
}

fn runtime(library: Option<&Path>) -> Result<&'static Runtime> {
    let r = RUNTIME.get_or_init(|| {
        let shared_arena = arena_setting()?;
        let path = find_library(library).map_err(|e| e.to_string())?;
        if !path.is_file() {
            return Err(format!(
                "ONNX Runtime library {} does not exist (run `bash scripts/setup.sh`)",
                path.display()
            ));
        }
        // ONNX Runtime's Linux build starts its own telemetry when the
        // environment is created: a database with a device id under
        // ~/.cache/Microsoft (2.8 MB here), written and fsynced on every
        // start, outside Obscura's home, on machines holding CCTV
        // footage. Only this variable stops it before it starts (turning
        // telemetry off on the environment comes too late), so it is set
        // once, before the library loads, unless the caller set it.
        if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
            std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
        }
        let builder = ort::init_from(&path).map_err(|e| {
            format!(
                "cannot load ONNX Runtime from {}: {e} (run `bash scripts/setup.sh`)",
                path.display()
            )
        })?;
        let env = builder
            .with_name("obscura")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
        if shared_arena {
            register_shared_arena(&env).map_err(|e| {
                format!(
                    "cannot set up ONNX Runtime's shared memory arena ({}): {e}",
                    path.display()
                )
            })?;
        }
        Ok(Runtime {
            path,
            env,
            shared_arena,
        })
    });
    r.as_ref()
        .map_err(|m| Error::new(ErrorKind::Runtime, m.clone()))
}

/// Registers one CPU memory arena with the environment, for every session
/// to allocate from (sessions opt in with `session.use_env_allocators`).
///
/// Each session's own arena keeps the most its model ever needed at once,
/// so a process holding three models per detection worker kept the sum of
/// six peaks, though a worker runs one model at a time. One shared arena
/// holds what runs at the same moment. Measured on 10 s of 1080p,
/// `redact --faces --plates`, two workers: 806 MB peak RSS with an arena
/// per session, 590 MB shared, byte-identical output, and 3-9% more time
/// (the runtime's kernels run a little slower on memory that moves between
/// models). The arena lives as long as the process; it is never bigger
/// than the most the models needed at once. `OBSCURA_ORT_ARENA=per-session`
/// gives each session its own arena, for speed over memory.
fn register_shared_arena(env: &ort::environment::Environment) -> std::result::Result<(), String> {
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    use ort::AsPointer;
    let info = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Arena,
        MemoryType::Default,
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: `env` and `info` are live runtime objects for the call; a
    // null arena configuration asks for the runtime's defaults, and the
    // runtime copies what it keeps of `info`.
    unsafe {
        ort::Error::result_from_status((ort::api().CreateAndRegisterAllocator)(
            env.ptr().cast_mut(),
            info.ptr(),
            std::ptr::null(),
        ))
    }
    .map_err(|e| e.to_string())
}

/// One output tensor of a model run, copied out of the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Output name.
    pub name: String,
    /// The values, in the shape the model gave them.
    pub data: ArrayD<f32>,
}

impl Tensor {
    /// The output's dimensions.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The output as a 4-dimensional view (`[batch, channels, rows,
    /// columns]` for the detectors here).
    ///
    /// # Errors
    /// `Model` when the output has another number of dimensions.
    pub fn view4(&self) -> Result<ArrayView4<'_, f32>> {
        self.data.view().into_dimensionality::<Ix4>().map_err(|_| {
            Error::new(
                ErrorKind::Model,
                format!(
                    "output {} has shape {:?}, expected 4 dimensions",
                    self.name,
                    self.shape()
                ),
            )
        })
    }
}

/// A loaded model with its own session (sessions are not shared between
/// threads: give each worker its own `Model`). Every session's working
/// memory comes from one arena per process.
pub struct Model {
    session: ort::session::Session,
    path: PathBuf,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

fn model_err(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Model, what.to_string()).with_path(path)
}

impl Model {
    /// Loads the ONNX model at `path` with `threads` intra-op threads
    /// (0 = the runtime's choice), initialising the runtime if needed.
    ///
    /// # Errors
    /// `Runtime` when ONNX Runtime is missing; `Model` when the file is
    /// missing or is not a valid model.
    pub fn load(path: impl AsRef<Path>, threads: usize) -> Result<Model> {
        let path = path.as_ref();
        let rt = runtime(None)?;
        if !path.is_file() {
            return Err(model_err(
                path,
                "model file not found (run `bash scripts/setup.sh`)",
            ));
        }
        let mut builder = ort::session::Session::builder(&rt.env)
            .map_err(|e| model_err(path, format!("cannot create a session: {e}")))?;
        // Region-of-interest detection runs the model on inputs of many
        // shapes; ONNX Runtime's memory pattern is planned for one shape and
        // only costs there (measured: 180 MB less peak memory and 1-2% less
        // time on a 720p redaction).
        if rt.shared_arena {
            builder = builder
                .with_env_allocators()
                .map_err(|e| model_err(path, format!("cannot set memory options: {e}")))?;
        }
        builder = builder
            .with_memory_pattern(false)
            .map_err(|e| model_err(path, format!("cannot set memory options: {e}")))?;
        if threads > 0 {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|e| model_err(path, format!("cannot set threads: {e}")))?;
        }
        let session = builder.commit_from_file(path).map_err(|e| {
            model_err(
                path,
                format!("not a valid ONNX model: {e} (delete it and run `bash scripts/setup.sh`)"),
            )
        })?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        Ok(Model {
            session,
            path: path.to_path_buf(),
            inputs,
            outputs,
        })
    }

    /// A custom metadata value the model file carries (a recogniser's
    /// character list, say), if it has one under `key`.
    ///
    /// # Errors
    /// `Model` when the runtime cannot read the metadata.
    pub fn metadata(&self, key: &str) -> Result<Option<String>> {
        let meta = self
            .session
            .metadata()
            .map_err(|e| model_err(&self.path, format!("cannot read model metadata: {e}")))?;
        Ok(meta.custom(key))
    }

    /// Input names, in the model's order.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// Output names, in the model's order.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// Checks that the model has exactly these inputs and at least these
    /// outputs.
    ///
    /// # Errors
    /// `Model`, listing what the model has instead.
    pub fn expect_io(&self, inputs: &[&str], outputs: &[&str]) -> Result<()> {
        let ok_in = self.inputs.len() == inputs.len()
            && inputs.iter().all(|i| self.inputs.iter().any(|n| n == i));
        let ok_out = outputs.iter().all(|o| self.outputs.iter().any(|n| n == o));
        if ok_in && ok_out {
            return Ok(());
        }
        Err(model_err(
            &self.path,
            format!(
                "unexpected model interface: inputs {:?}, outputs {:?} (expected inputs {inputs:?}, outputs including {outputs:?})",
                self.inputs, self.outputs
            ),
        ))
    }

    /// Runs the model on one float32 input tensor (`[1, 3, height, width]`
    /// for the detectors here).
    ///
    /// # Errors
    /// `Model` when the runtime rejects the input or a output is not float32.
    pub fn run(&mut self, input: &str, tensor: Array4<f32>) -> Result<Vec<Tensor>> {
        let value = ort::value::Tensor::from_array(tensor)
            .map_err(|e| model_err(&self.path, format!("bad input tensor: {e}")))?;
        self.run_value(input, value)
    }

    /// Runs the model on a float32 input tensor of `shape` that `fill`
    /// writes in place, as [`Model::run`] does. `fill` must write every
    /// element: the buffer holds what the thread's last run left there
    /// (debug builds fill it with NaN first and check that none is left).
    /// The input is built in a buffer of the calling thread's, kept from
    /// run to run at the largest size it has had: a fresh tensor for every
    /// region read is fresh memory the kernel must zero page by page
    /// (`perf` on 576p face redaction: over half the page faults, and most
    /// of the system time, came from these inputs).
    ///
    /// # Errors
    /// As [`Model::run`].
    pub fn run_filled(
        &mut self,
        input: &str,
        shape: [usize; 4],
        fill: impl FnOnce(ArrayViewMut4<'_, f32>),
    ) -> Result<Vec<Tensor>> {
        let len = shape.iter().product::<usize>();
        let mut buf = INPUT.with(std::cell::Cell::take);
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let part = &mut buf[..len];
        if cfg!(debug_assertions) {
            part.fill(f32::NAN);
        }
        let result = self.run_in(input, shape, part, fill);
        INPUT.with(|kept| kept.set(buf));
        result
    }

    fn run_in(
        &mut self,
        input: &str,
        shape: [usize; 4],
        buf: &mut [f32],
        fill: impl FnOnce(ArrayViewMut4<'_, f32>),
    ) -> Result<Vec<Tensor>> {
        let bad =
            |e: &dyn std::fmt::Display| model_err(&self.path, format!("bad input tensor: {e}"));
        fill(ArrayViewMut4::from_shape(shape, &mut *buf).map_err(|e| bad(&e))?);
        debug_assert!(
            buf.iter().all(|v| !v.is_nan()),
            "an input filled for {} left elements unwritten",
            self.path.display()
        );
        let view = ArrayView4::from_shape(shape, &*buf).map_err(|e| bad(&e))?;
        let value = ort::value::TensorRef::from_array_view(view).map_err(|e| bad(&e))?;
        self.run_value(input, value)
    }

    fn run_value<'v>(
        &mut self,
        input: &str,
        value: impl Into<ort::session::SessionInputValue<'v>>,
    ) -> Result<Vec<Tensor>> {
        let path = self.path.clone();
        let outputs = self
            .session
            .run(ort::inputs![input => value.into()])
            .map_err(|e| model_err(&path, format!("inference failed: {e}")))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, v) in outputs.iter() {
            let data = v
                .try_extract_array::<f32>()
                .map_err(|e| model_err(&path, format!("output {name} is not float32: {e}")))?;
            result.push(Tensor {
                name: name.to_string(),
                data: data.to_owned(),
            });
        }
        Ok(result)
    }
}

thread_local! {
    /// [`Model::run_filled`]'s input buffer: one per thread, since a
    /// thread runs one model at a time; it lives as long as the thread.
    static INPUT: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}
