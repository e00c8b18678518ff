//! `exporter formats`: the formats a running service offers you, through
//! its API (`GET /api/formats`): built-ins, installed plugins, your
//! organization's canaries.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use super::client::{ConnectionArgs, print_out};
use super::data::runtime;

#[derive(Debug, clap::Args)]
pub struct FormatsArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Print the API's JSON, options included.
    #[arg(long)]
    json: bool,
}

pub fn run(args: FormatsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = args.connection.client()?;
        let formats = client.json(client.get("/api/formats")).await?;
        if args.json {
            print_out(&format!("{}\n", serde_json::to_string_pretty(&formats)?))?;
            return Ok(ExitCode::SUCCESS);
        }
        print_out(&table(&formats))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// One line per format, its options indented below.
fn table(formats: &Value) -> String {
    let mut text = String::new();
    let formats = formats.as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        text,
        "{:<10} {:<10} {:<6} {:<36} DESCRIPTION",
        "FORMAT", "VERSION", "EXT", "MEDIA TYPE"
    );
    for format in &formats {
        let text_of = |key: &str| format[key].as_str().unwrap_or("-").to_owned();
        let aliases: Vec<&str> = format["aliases"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut description = text_of("description");
        if !aliases.is_empty() {
            description.push_str(&format!(" (also: {})", aliases.join(", ")));
        }
        let _ = writeln!(
            text,
            "{:<10} {:<10} {:<6} {:<36} {description}",
            text_of("name"),
            text_of("version"),
            text_of("fileExtension"),
            text_of("mediaType"),
        );
        for option in format["options"].as_array().into_iter().flatten() {
            let name = option["name"].as_str().unwrap_or("-");
            let about = option["description"].as_str().unwrap_or("");
            let default = option["default"].as_str().unwrap_or("");
            let _ = writeln!(text, "    -O {name}=...  {about} (default {default:?})");
        }
    }
    text
}
