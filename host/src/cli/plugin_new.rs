//! `exporter plugin new NAME`: write a new format plugin crate from the
//! template in `plugin_template/`, ready to build, test and certify.
//!
//! The template is a complete, working format (tab-separated values named
//! NAME) with unit tests, so a new author starts from green and changes one
//! thing at a time. The crate stands alone (its own `[workspace]`) and
//! depends on the guest SDK by path, because the SDK reads the WIT contract
//! from its checkout.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The format's name, lower-kebab-case (e.g. `tsv`, `team-report`): what
    /// exports ask for and what the registry lists.
    // A leading hyphen is a bad name, not a flag: it gets the one-line
    // naming error rather than clap's usage text.
    #[arg(allow_hyphen_values = true)]
    name: String,
    /// Where to create the crate [default: ./exporter-plugin-NAME]. It must
    /// not exist, or be an empty directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The guest SDK to depend on: the `plugins/sdk` directory of an Exporter
    /// checkout. By default the one of the checkout around the current
    /// directory, else the one this binary was built from.
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// One file of the template: where it goes in the new crate, and its text
/// with `{{key}}` placeholders.
struct TemplateFile {
    path: &'static str,
    text: &'static str,
}

const TEMPLATE: [TemplateFile; 4] = [
    TemplateFile {
        path: "Cargo.toml",
        text: include_str!("plugin_template/Cargo.toml.tmpl"),
    },
    TemplateFile {
        path: "src/lib.rs",
        text: include_str!("plugin_template/src/lib.rs.tmpl"),
    },
    TemplateFile {
        path: "README.md",
        text: include_str!("plugin_template/README.md.tmpl"),
    },
    TemplateFile {
        // Stored without the dot so the template directory has no hidden
        // files.
        path: ".gitignore",
        text: include_str!("plugin_template/gitignore.tmpl"),
    },
];

/// The SDK's package name, to recognise its manifest.
const SDK_PACKAGE: &str = "exporter-plugin-sdk";

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .unwrap_or_else(|| PathBuf::from(format!("exporter-plugin-{}", args.name)));
    check_destination(&dir)?;
    let sdk = match args.sdk {
        Some(path) => check_sdk(&path)?,
        None => find_sdk()?,
    };

    let names = Names::new(&args.name, &sdk);
    for file in &TEMPLATE {
        write_new(&dir.join(file.path), &names.render(file.text))?;
    }

    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", names.lib_name);
    println!(
        "created {} (format {:?}, SDK {})",
        dir.display(),
        args.name,
        sdk.display()
    );
    println!();
    println!("  cd {}", dir.display());
    println!("  cargo test                                     # unit tests, natively");
    println!("  cargo build --target wasm32-wasip2 --release   # the component");
    println!("  exporter plugin check {wasm}");
    Ok(ExitCode::SUCCESS)
}

/// Lower-kebab-case, as the registry requires of format names: ASCII
/// lowercase letters and digits in words joined by single hyphens, starting
/// with a letter.
fn check_name(name: &str) -> anyhow::Result<()> {
    let kebab = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !kebab || name.len() > 64 {
        bail!(
            "invalid plugin name {name:?}: use lower-kebab-case (lowercase letters and digits in words joined by single hyphens, starting with a letter, at most 64 characters), e.g. \"team-report\""
        );
    }
    Ok(())
}

/// A new crate never overwrites anything: the directory must be absent or
/// empty.
fn check_destination(dir: &Path) -> anyhow::Result<()> {
    match fs::metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("checking {}", dir.display())),
        Ok(meta) if !meta.is_dir() => {
            bail!("{} exists and is not a directory", dir.display())
        }
        Ok(_) => {
            let mut entries =
                fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; choose another --dir",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

/// `path` if it is the SDK's directory, made absolute so the new crate can
/// live anywhere.
fn check_sdk(path: &Path) -> anyhow::Result<PathBuf> {
    if !is_sdk(path) {
        bail!(
            "{} is not the Exporter plugin SDK (no Cargo.toml of package {SDK_PACKAGE}); pass --sdk with the plugins/sdk directory of an Exporter checkout",
            path.display()
        );
    }
    fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
}

/// The SDK of the checkout around the current directory, else the one this
/// binary was built from.
fn find_sdk() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let around_cwd = cwd.ancestors().map(|dir| dir.join("plugins").join("sdk"));
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("plugins")
        .join("sdk");
    match around_cwd
        .chain(std::iter::once(built_from))
        .find(|dir| is_sdk(dir))
    {
        Some(sdk) => check_sdk(&sdk),
        None => bail!(
            "cannot find the Exporter plugin SDK: pass --sdk with the plugins/sdk directory of an Exporter checkout"
        ),
    }
}

fn is_sdk(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join("Cargo.toml")) else {
        return false;
    };
    let Ok(manifest) = text.parse::<toml::Table>() else {
        return false;
    };
    manifest
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(|name| name.as_str())
        == Some(SDK_PACKAGE)
}

/// Creates `path` (and its parent directories) with `text`, refusing to
/// replace a file.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Everything the template's placeholders stand for.
struct Names {
    /// `{{name}}`: the format's name, e.g. `team-report`.
    name: String,
    /// `{{crate_name}}`: the package, e.g. `exporter-plugin-team-report`.
    crate_name: String,
    /// `{{lib_name}}`: the library, hence the `.wasm` file's stem, e.g.
    /// `exporter_plugin_team_report`.
    lib_name: String,
    /// `{{type_name}}`: the prefix of the Rust types, e.g. `TeamReport`.
    type_name: String,
    /// `{{sdk_path}}`: the SDK's directory, escaped for a TOML basic string.
    sdk_path: String,
}

impl Names {
    fn new(name: &str, sdk: &Path) -> Names {
        let crate_name = format!("exporter-plugin-{name}");
        Names {
            name: name.to_owned(),
            lib_name: crate_name.replace('-', "_"),
            crate_name,
            type_name: upper_camel_case(name),
            sdk_path: toml_escape(&sdk.to_string_lossy()),
        }
    }

    fn render(&self, template: &str) -> String {
        [
            ("{{name}}", &self.name),
            ("{{crate_name}}", &self.crate_name),
            ("{{lib_name}}", &self.lib_name),
            ("{{type_name}}", &self.type_name),
            ("{{sdk_path}}", &self.sdk_path),
        ]
        .iter()
        .fold(template.to_owned(), |text, (placeholder, value)| {
            text.replace(placeholder, value)
        })
    }
}

/// `team-report` -> `TeamReport`, `v2-export` -> `V2Export`.
fn upper_camel_case(kebab: &str) -> String {
    kebab
        .split('-')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// The inside of a TOML basic string: backslashes, quotes and control
/// characters escaped (a Windows path has backslashes).
fn toml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            c if c.is_control() => escaped.push_str(&format!("\\u{:04X}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_lower_kebab_case() {
        for good in ["tsv", "team-report", "v2", "a-1-b"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "TSV",
            "Tsv",
            "team_report",
            "-tsv",
            "tsv-",
            "a--b",
            "2tsv",
            "tsv.x",
            "é",
        ] {
            let message = check_name(bad).unwrap_err().to_string();
            assert!(message.starts_with("invalid plugin name"), "{bad:?}");
            assert!(!message.contains('\n'));
        }
        check_name(&"a".repeat(65)).unwrap_err();
    }

    #[test]
    fn every_placeholder_is_filled() {
        let names = Names::new("team-report", Path::new("/opt/exporter/plugins/sdk"));
        assert_eq!(names.type_name, "TeamReport");
        assert_eq!(names.lib_name, "exporter_plugin_team_report");
        for file in &TEMPLATE {
            let text = names.render(file.text);
            assert!(!text.contains("{{"), "{} keeps a placeholder", file.path);
        }
        let manifest: toml::Table = names.render(TEMPLATE[0].text).parse().unwrap();
        assert_eq!(
            manifest["dependencies"][SDK_PACKAGE]["path"].as_str(),
            Some("/opt/exporter/plugins/sdk")
        );
        assert_eq!(
            manifest["package"]["name"].as_str(),
            Some("exporter-plugin-team-report")
        );
        assert!(manifest["workspace"].as_table().unwrap().is_empty());
    }

    #[test]
    fn sdk_paths_survive_toml() {
        let names = Names::new("x", Path::new(r#"C:\Users\"q"\sdk"#));
        let manifest: toml::Table = names.render(TEMPLATE[0].text).parse().unwrap();
        assert_eq!(
            manifest["dependencies"][SDK_PACKAGE]["path"].as_str(),
            Some(r#"C:\Users\"q"\sdk"#)
        );
    }

    #[test]
    fn camel_case() {
        assert_eq!(upper_camel_case("tsv"), "Tsv");
        assert_eq!(upper_camel_case("v2-export"), "V2Export");
        assert_eq!(upper_camel_case("a-1"), "A1");
    }

    #[test]
    fn refuses_non_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        check_destination(&dir.path().join("absent")).unwrap();
        check_destination(dir.path()).unwrap();
        fs::write(dir.path().join("file"), "x").unwrap();
        let message = check_destination(dir.path()).unwrap_err().to_string();
        assert!(message.ends_with("already exists and is not empty; choose another --dir"));
        let message = check_destination(&dir.path().join("file"))
            .unwrap_err()
            .to_string();
        assert!(message.ends_with("exists and is not a directory"));
    }

    #[test]
    fn finds_the_sdk_of_this_checkout() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
        assert!(is_sdk(&sdk));
        assert!(!is_sdk(Path::new(env!("CARGO_MANIFEST_DIR"))));
        assert!(find_sdk().unwrap().ends_with("plugins/sdk"));
    }
}
