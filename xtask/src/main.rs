//! Build helper for the workspace. `cargo xtask plugins` compiles every
//! format plugin and test guest to a WebAssembly component and copies them
//! where the host and its tests look for them:
//!
//! * `<target-dir>/plugins/<format>.wasm` for crates with
//!   `[package.metadata.exporter] format = "<format>"`;
//! * `<target-dir>/test-plugins/<name>.wasm` for crates with
//!   `[package.metadata.exporter] test-plugin = "<name>"`;
//!
//! where `<target-dir>` is `$CARGO_TARGET_DIR` or `<workspace>/target`.
//!
//! A test plugin may also list variants, each built with extra cargo
//! features into its own file (`variants = { "stamp-v2" = ["v2"] }` gives
//! `<target-dir>/test-plugins/stamp-v2.wasm`): the registry's tests need
//! several versions of one format.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// Where plugin crates live, relative to the workspace root: the shipped
/// formats, the test guests and the examples for plugin authors.
const CRATE_DIRS: [&str; 3] = ["plugins", "tests/guests", "examples"];
/// `\0asm`, then version 0x0d and layer 1: a component, not a core module
/// (whose version/layer bytes are `01 00 00 00`).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["plugins"] => build_plugins(),
        _ => bail!("usage: cargo xtask plugins (got: {})", display_args(&args)),
    }
}

fn display_args(args: &[String]) -> String {
    if args.is_empty() {
        "no arguments".to_owned()
    } else {
        args.join(" ")
    }
}

/// What a plugin crate builds into.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A shipped format, named by `metadata.exporter.format`.
    Format(String),
    /// A test guest, named by `metadata.exporter.test-plugin`.
    TestPlugin(String),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Format(name) => write!(f, "format {name:?}"),
            Kind::TestPlugin(name) => write!(f, "test plugin {name:?}"),
        }
    }
}

#[derive(Debug)]
struct PluginCrate {
    package: String,
    /// The cdylib's file stem: `[lib] name`, or the package name with `-`
    /// replaced by `_`.
    lib_name: String,
    kind: Kind,
    /// Extra builds: output name and the cargo features that make it.
    variants: Vec<(String, Vec<String>)>,
}

impl PluginCrate {
    /// Where cargo leaves the component.
    fn built(&self, target_dir: &Path) -> PathBuf {
        target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", self.lib_name))
    }

    fn destination(&self, target_dir: &Path) -> PathBuf {
        match &self.kind {
            Kind::Format(name) => target_dir.join("plugins").join(format!("{name}.wasm")),
            Kind::TestPlugin(name) => target_dir.join("test-plugins").join(format!("{name}.wasm")),
        }
    }
}

fn build_plugins() -> Result<()> {
    let root = workspace_root()?;
    let target_dir = target_dir(&root)?;
    let crates = discover(&root)?;
    ensure_target_installed()?;
    cargo_build(&root, &target_dir, &crates)?;
    for plugin in &crates {
        let size = install(&plugin.built(&target_dir), &plugin.destination(&target_dir))
            .with_context(|| format!("installing the artifact of {}", plugin.package))?;
        println!(
            "{:<60} {size:>9} bytes",
            plugin.destination(&target_dir).display()
        );
    }
    // One cargo invocation per variant: features unify within one.
    for plugin in &crates {
        for (name, features) in &plugin.variants {
            cargo_build_variant(&root, &target_dir, &plugin.package, features)?;
            let built = plugin.built(&target_dir);
            let destination = target_dir.join("test-plugins").join(format!("{name}.wasm"));
            let size = install(&built, &destination)
                .with_context(|| format!("installing variant {name} of {}", plugin.package))?;
            println!("{:<60} {size:>9} bytes", destination.display());
        }
    }
    Ok(())
}

fn cargo_build_variant(
    root: &Path,
    target_dir: &Path,
    package: &str,
    features: &[String],
) -> Result<()> {
    let status = plugin_build(root, target_dir)
        .args(["-p", package, "--features", &features.join(",")])
        .status()
        .context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build of {package} with features {features:?} failed ({status})"
    );
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .context("xtask's manifest directory has no parent")?;
    ensure!(
        root.join("Cargo.toml").is_file(),
        "no Cargo.toml at the workspace root {}",
        root.display()
    );
    Ok(root.to_path_buf())
}

fn target_dir(root: &Path) -> Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => std::path::absolute(&dir)
            .with_context(|| format!("resolving CARGO_TARGET_DIR={}", Path::new(&dir).display())),
        _ => Ok(root.join("target")),
    }
}

/// Every crate under [`CRATE_DIRS`] whose manifest names a format or test
/// plugin, sorted by directory.
fn discover(root: &Path) -> Result<Vec<PluginCrate>> {
    let mut crates = Vec::new();
    for dir in CRATE_DIRS {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        let mut manifests: Vec<PathBuf> = fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|entry| entry.map(|e| e.path().join("Cargo.toml")))
            .collect::<Result<_, _>>()
            .with_context(|| format!("listing {}", dir.display()))?;
        manifests.retain(|m| m.is_file());
        manifests.sort();
        for manifest in manifests {
            if let Some(plugin) = read_manifest(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?
            {
                crates.push(plugin);
            }
        }
    }
    ensure!(
        !crates.is_empty(),
        "no plugin crates found under {}",
        CRATE_DIRS.join(", ")
    );
    check_unique(&crates)?;
    Ok(crates)
}

/// The plugin described by `manifest`, or `None` if it is not a plugin.
fn read_manifest(manifest: &Path) -> Result<Option<PluginCrate>> {
    let text = fs::read_to_string(manifest)?;
    let doc: toml::Table = text.parse()?;
    let package = doc
        .get("package")
        .and_then(|p| p.as_table())
        .context("no [package]")?;
    let name = package
        .get("name")
        .and_then(|n| n.as_str())
        .context("no package.name")?;
    let metadata = package
        .get("metadata")
        .and_then(|m| m.get("exporter"))
        .and_then(|e| e.as_table());
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    let text_key = |key: &str| -> Result<Option<String>> {
        match metadata.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(|s| Some(s.to_owned()))
                .with_context(|| format!("package.metadata.exporter.{key} is not a string")),
        }
    };
    let kind = match (text_key("format")?, text_key("test-plugin")?) {
        (Some(format), None) => Kind::Format(format),
        (None, Some(test)) => Kind::TestPlugin(test),
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => bail!("package.metadata.exporter has both format and test-plugin"),
    };
    let lib = doc.get("lib").and_then(|l| l.as_table());
    let is_cdylib = lib
        .and_then(|l| l.get("crate-type"))
        .and_then(|t| t.as_array())
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
    ensure!(
        is_cdylib,
        "{name} is a plugin but its [lib] crate-type lacks \"cdylib\""
    );
    let lib_name = lib
        .and_then(|l| l.get("name"))
        .and_then(|n| n.as_str())
        .map_or_else(|| name.replace('-', "_"), str::to_owned);
    let mut variants = Vec::new();
    if let Some(table) = metadata.get("variants") {
        let table = table
            .as_table()
            .context("package.metadata.exporter.variants is not a table")?;
        ensure!(
            matches!(kind, Kind::TestPlugin(_)),
            "{name}: only test plugins have variants"
        );
        for (variant, features) in table {
            let features = features
                .as_array()
                .and_then(|list| {
                    list.iter()
                        .map(|f| f.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                })
                .with_context(|| {
                    format!("variant {variant:?}: expected a list of feature names")
                })?;
            variants.push((variant.clone(), features));
        }
    }
    Ok(Some(PluginCrate {
        package: name.to_owned(),
        lib_name,
        kind,
        variants,
    }))
}

fn check_unique(crates: &[PluginCrate]) -> Result<()> {
    for (i, a) in crates.iter().enumerate() {
        if let Some(b) = crates[..i].iter().find(|b| b.kind == a.kind) {
            bail!("{} and {} both build {}", b.package, a.package, a.kind);
        }
    }
    Ok(())
}

fn ensure_target_installed() -> Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match listed {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line.trim() == TARGET),
        Ok(output) => bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // No rustup (a distro toolchain): the target is there or not.
            return ensure_target_in_sysroot();
        }
        Err(error) => return Err(error).context("running rustup"),
    };
    if !installed {
        eprintln!("installing the {TARGET} target with rustup");
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()
            .context("running rustup target add")?;
        ensure!(
            status.success(),
            "`rustup target add {TARGET}` failed ({status})"
        );
    }
    Ok(())
}

fn ensure_target_in_sysroot() -> Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    ensure!(output.status.success(), "`rustc --print sysroot` failed");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let libdir = sysroot.join("lib/rustlib").join(TARGET);
    ensure!(
        libdir.is_dir(),
        "the {TARGET} target is not installed ({} is missing) and rustup is not available to add it",
        libdir.display()
    );
    Ok(())
}

/// `cargo build` of plugin crates for the component target and profile.
fn plugin_build(root: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
    command
}

/// One cargo invocation for all plugins, so shared dependencies build once.
fn cargo_build(root: &Path, target_dir: &Path, crates: &[PluginCrate]) -> Result<()> {
    let mut command = plugin_build(root, target_dir);
    for plugin in crates {
        command.args(["-p", &plugin.package]);
    }
    let status = command.status().context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build of the plugins failed ({status}); see the errors above"
    );
    Ok(())
}

/// Check `built` is a component and copy it to `destination`; returns its
/// size in bytes.
fn install(built: &Path, destination: &Path) -> Result<u64> {
    check_component(built)?;
    let dir = destination.parent().context("destination has no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::copy(built, destination)
        .with_context(|| format!("copying {} to {}", built.display(), destination.display()))
}

fn check_component(path: &Path) -> Result<()> {
    let mut header = [0u8; 8];
    fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .with_context(|| format!("reading {}", path.display()))?;
    if header == COMPONENT_HEADER {
        return Ok(());
    }
    if header[..4] == COMPONENT_HEADER[..4] {
        bail!(
            "{} is a core WebAssembly module (version/layer {:02x?}), not a component",
            path.display(),
            &header[4..]
        );
    }
    bail!(
        "{} is not WebAssembly (starts with {:02x?})",
        path.display(),
        header
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_manifest(dir: &Path, text: &str) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        let path = dir.join("Cargo.toml");
        fs::write(&path, text).unwrap();
        path
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn manifests_name_formats_and_test_plugins() {
        let dir = scratch("manifests");
        let format = write_manifest(
            &dir.join("a"),
            "[package]\nname = \"exporter-plugin-csv\"\n[package.metadata.exporter]\nformat = \"csv\"\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n",
        );
        let plugin = read_manifest(&format).unwrap().unwrap();
        assert_eq!(plugin.kind, Kind::Format("csv".into()));
        assert_eq!(plugin.lib_name, "exporter_plugin_csv");

        let test = write_manifest(
            &dir.join("b"),
            "[package]\nname = \"t\"\n[package.metadata.exporter]\ntest-plugin = \"hostile\"\n[lib]\nname = \"odd\"\ncrate-type = [\"cdylib\"]\n",
        );
        let plugin = read_manifest(&test).unwrap().unwrap();
        assert_eq!(plugin.kind, Kind::TestPlugin("hostile".into()));
        assert_eq!(plugin.lib_name, "odd");
        assert_eq!(
            plugin.destination(Path::new("/t")),
            Path::new("/t/test-plugins/hostile.wasm")
        );

        let sdk = write_manifest(&dir.join("c"), "[package]\nname = \"sdk\"\n");
        assert!(read_manifest(&sdk).unwrap().is_none());

        let rlib_only = write_manifest(
            &dir.join("d"),
            "[package]\nname = \"x\"\n[package.metadata.exporter]\nformat = \"x\"\n",
        );
        assert!(read_manifest(&rlib_only).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn component_header_is_checked() {
        let dir = scratch("header");
        fs::create_dir_all(&dir).unwrap();
        let component = dir.join("c.wasm");
        fs::write(&component, [&COMPONENT_HEADER[..], b"rest"].concat()).unwrap();
        assert!(check_component(&component).is_ok());
        let module = dir.join("m.wasm");
        fs::write(&module, b"\0asm\x01\0\0\0rest").unwrap();
        let error = check_component(&module).unwrap_err().to_string();
        assert!(error.contains("core WebAssembly module"), "{error}");
        let short = dir.join("s.wasm");
        fs::write(&short, b"\0as").unwrap();
        assert!(check_component(&short).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn duplicate_outputs_are_refused() {
        let a = PluginCrate {
            package: "a".into(),
            lib_name: "a".into(),
            kind: Kind::Format("csv".into()),
            variants: Vec::new(),
        };
        let b = PluginCrate {
            package: "b".into(),
            lib_name: "b".into(),
            kind: Kind::Format("csv".into()),
            variants: Vec::new(),
        };
        assert!(check_unique(&[a, b]).is_err());
    }
}
