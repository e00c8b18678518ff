//! `exporter datasets`: the datasets a running service lets you export,
//! through its API (`GET /api/datasets`): what `exporter export
//! --data-type` takes.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use super::client::{ConnectionArgs, print_out};
use super::data::runtime;

#[derive(Debug, clap::Args)]
pub struct DatasetsArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DatasetsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = args.connection.client()?;
        let datasets = client.json(client.get("/api/datasets")).await?;
        if args.json {
            print_out(&format!("{}\n", serde_json::to_string_pretty(&datasets)?))?;
            return Ok(ExitCode::SUCCESS);
        }
        print_out(&table(&datasets))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// One line per dataset, its columns indented below.
fn table(datasets: &Value) -> String {
    let mut text = String::new();
    let datasets = datasets.as_array().cloned().unwrap_or_default();
    if datasets.is_empty() {
        text.push_str("no datasets: your role exports none (export jobs are for SuperAdmins, Admins and Managers)\n");
    }
    for dataset in &datasets {
        let text_of = |value: &Value| value.as_str().unwrap_or("-").to_owned();
        let range = match dataset["rangeColumn"].as_str() {
            Some(column) => format!("date range on {column}"),
            None => "no date range".to_owned(),
        };
        let _ = writeln!(
            text,
            "{} ({}; {range})",
            text_of(&dataset["name"]),
            text_of(&dataset["description"])
        );
        for column in dataset["columns"].as_array().into_iter().flatten() {
            // What the caller gets of it: masked how, filterable how.
            let mut notes = Vec::new();
            if let Some(mask) = column["masked"].as_str() {
                notes.push(format!("masked: {mask}"));
            }
            if let Some(ops) = column["filter"].as_array() {
                let ops: Vec<&str> = ops.iter().filter_map(Value::as_str).collect();
                notes.push(format!("--filter {}", ops.join("|")));
            }
            let notes = match notes.is_empty() {
                true => String::new(),
                false => format!(" [{}]", notes.join("; ")),
            };
            let _ = writeln!(
                text,
                "  {:<18} {:<10} {}{notes}",
                text_of(&column["name"]),
                text_of(&column["type"]),
                text_of(&column["description"])
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_and_filterable_columns_say_so() {
        let json = serde_json::json!([{
            "name": "customers", "description": "Customers",
            "columns": [
                {"name": "email", "type": "text", "description": "Address", "masked": "email-domain"},
                {"name": "status", "type": "text", "description": "State", "filter": ["eq", "in"]}
            ]
        }]);
        assert_eq!(
            table(&json),
            "customers (Customers; no date range)\n  \
             email              text       Address [masked: email-domain]\n  \
             status             text       State [--filter eq|in]\n"
        );
    }

    #[test]
    fn a_dataset_reads_as_a_line_and_its_columns() {
        let json = serde_json::json!([{
            "name": "orders", "description": "Orders", "rangeColumn": "created_at",
            "columns": [{"name": "id", "type": "int64", "description": "Order id"}]
        }]);
        assert_eq!(
            table(&json),
            "orders (Orders; date range on created_at)\n  id                 int64      Order id\n"
        );
        assert!(table(&serde_json::json!([])).contains("your role exports none"));
    }
}
