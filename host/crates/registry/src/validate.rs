//! What a component must pass before it may be activated: be a component,
//! implement our world, precompile, describe itself, and pass the
//! conformance kit within the kit's memory and time limits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use exporter_kit::{self as conformance, CheckSettings};
use exporter_runtime::{Formatter, PluginEngine, PluginError, SandboxLimits};

/// The newest contract this host runs; it runs every earlier 1.x too.
pub use exporter_runtime::CONTRACT;

/// How hard install-time validation pushes: the service's
/// `[registry.validation]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSettings {
    /// Rows in the kit's large streamed export.
    pub check_rows: usize,
    /// The kit's per-call deadline: a plugin slower than this on one batch
    /// is refused.
    #[serde(with = "exporter_settings::duration")]
    pub call_timeout: Duration,
    /// The kit's memory cap per instance: tighter than the sandbox's, since
    /// a streaming formatter needs a few MiB.
    #[serde(with = "exporter_settings::bytes")]
    pub memory_bytes: usize,
    /// Wall time a whole validation may take (see `isolated`); past it the
    /// validating process is killed and the plugin refused. An install
    /// request is answered within it.
    #[serde(with = "exporter_settings::duration")]
    pub budget: Duration,
    /// Resident memory the validating process may use (see `isolated`);
    /// past it, it is killed and the plugin refused.
    #[serde(with = "exporter_settings::bytes")]
    pub max_process_bytes: u64,
    /// The program validations run in; `None`: this executable. Not a
    /// setting: tests that host the service in-process point it at the
    /// `exporter` binary.
    #[serde(skip)]
    pub validator: Option<PathBuf>,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        let kit = CheckSettings::default();
        Self {
            check_rows: kit.large_rows,
            call_timeout: kit.limits.call_timeout,
            memory_bytes: kit.limits.memory_bytes,
            budget: Duration::from_secs(300),
            max_process_bytes: 2 << 30,
            validator: None,
        }
    }
}

impl ValidationSettings {
    /// What makes no sense: a validation or a call with no time.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([
            ("budget", !self.budget.is_zero(), "positive"),
            ("call_timeout", !self.call_timeout.is_zero(), "positive"),
        ])
    }
}

/// One step of validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    pub millis: u64,
}

/// Everything validation found, kept with the version whether it passed
/// or not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    pub passed: bool,
    /// The first failure, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: Vec<Step>,
    /// The conformance kit's cases, when it ran.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub conformance: Vec<conformance::CaseReport>,
    /// What the component said about itself, when it loaded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub component: Option<ComponentFacts>,
    pub millis: u64,
}

/// A loaded component's self-description, as the registry records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentFacts {
    pub name: String,
    pub version: String,
    pub media_type: String,
    pub file_extension: String,
    pub description: String,
    pub contract: String,
}

impl ComponentFacts {
    pub fn of(formatter: &Formatter) -> Self {
        let info = formatter.info();
        Self {
            name: info.name.clone(),
            version: info.version.clone(),
            media_type: info.media_type.clone(),
            file_extension: info.file_extension.clone(),
            description: info.description.clone(),
            contract: formatter.contract().to_owned(),
        }
    }
}

impl InstallReport {
    pub(super) fn step(
        &mut self,
        name: &str,
        started: Instant,
        outcome: Result<String, String>,
    ) -> bool {
        let passed = outcome.is_ok();
        let detail = outcome.unwrap_or_else(|e| e);
        if !passed && self.reason.is_none() {
            self.reason = Some(format!("{name}: {detail}"));
        }
        self.steps.push(Step {
            name: name.to_owned(),
            passed,
            detail,
            millis: started.elapsed().as_millis() as u64,
        });
        passed
    }
}

/// A validated (or refused) component.
pub struct Validated {
    pub report: InstallReport,
    /// Present when the component loaded, even if a later step refused it.
    pub formatter: Option<Formatter>,
}

/// Runs every step in this process; stops at the first failure. The
/// service runs it in a child process ([`super::isolated`]); `progress` is
/// told of each kit case as it finishes. `expected_name` is the
/// format the installer meant (the API path): a component that says it is
/// another format is refused. `run_kit: false` skips the conformance kit
/// (built-ins, whose kit runs in the background after start-up).
pub fn validate(
    engine: &PluginEngine,
    label: &str,
    bytes: &[u8],
    expected_name: Option<&str>,
    settings: &ValidationSettings,
    run_kit: bool,
    progress: impl FnMut(&conformance::CaseReport),
) -> Validated {
    let started = Instant::now();
    let mut report = InstallReport::default();
    let done = |mut report: InstallReport, formatter| {
        report.passed = report.reason.is_none();
        report.millis = started.elapsed().as_millis() as u64;
        Validated { report, formatter }
    };

    let step = Instant::now();
    let loaded = engine.load(label, bytes);
    let outcome = match &loaded {
        Ok(_) => Ok(format!("{} bytes compiled and linked", bytes.len())),
        Err(PluginError::InvalidComponent { reason, .. }) => Err(reason.clone()),
        Err(e) => Err(e.to_string()),
    };
    if !report.step(
        "a component implementing the formatter world",
        step,
        outcome,
    ) {
        return done(report, None);
    }
    let formatter = loaded.expect("checked above");
    report.component = Some(ComponentFacts::of(&formatter));

    let step = Instant::now();
    let contract = formatter.contract();
    let outcome = exporter_runtime::contract_supported(contract).map(|()| contract.to_owned());
    if !report.step("contract version", step, outcome) {
        return done(report, Some(formatter));
    }

    let step = Instant::now();
    let info = formatter.info();
    let outcome = match expected_name {
        Some(expected) if expected != info.name => Err(format!(
            "the component says it is format {:?}, but is being installed as {expected:?}",
            info.name
        )),
        _ if semver::Version::parse(&info.version).is_err() => Err(format!(
            "its version {:?} is not semver (MAJOR.MINOR.PATCH)",
            info.version
        )),
        _ => Ok(format!(
            "{} {} ({})",
            info.name, info.version, info.media_type
        )),
    };
    if !report.step("describes itself", step, outcome) {
        return done(report, Some(formatter));
    }

    if run_kit {
        let step = Instant::now();
        let kit = conformance_settings(settings);
        let result = conformance::run(&formatter, &kit, progress);
        let outcome = match result.cases.iter().find(|c| !c.passed) {
            None => Ok(format!(
                "{} cases passed (seed {})",
                result.cases.len(),
                result.seed
            )),
            Some(case) => Err(format!(
                "{}: {} (seed {})",
                case.name, case.detail, result.seed
            )),
        };
        report.conformance = result.cases;
        report.step("conformance kit", step, outcome);
    }
    done(report, Some(formatter))
}

pub fn conformance_settings(settings: &ValidationSettings) -> CheckSettings {
    let defaults = CheckSettings::default();
    CheckSettings {
        large_rows: settings.check_rows,
        limits: SandboxLimits {
            memory_bytes: settings.memory_bytes,
            call_timeout: settings.call_timeout,
            ..defaults.limits
        },
        stop_at_first_failure: true,
        ..defaults
    }
}
