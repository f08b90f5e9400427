//! `hermes setup [model|pool] [--reset]`: the wizard for provider auth.

use clap::Args;

use super::model::flows::{self, Outcome};
use super::model::term::{self, Item, paint};
use crate::cli::{CliError, context, say, ui};
use crate::pool::{PoolContext, Strategy};
use crate::setup;

/// Sections of the reference's wizard that configure the agent runtime (not in this binary).
const RUNTIME_SECTIONS: &[&str] = &["tts", "terminal", "gateway", "tools", "agent"];

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Run one section: model (provider and model) or pool (credential rotation)
    #[arg(value_name = "SECTION")]
    pub section: Option<String>,
    /// Back up config.yaml (config.yaml.bak.<time>, newest 5 kept), then reset it to defaults
    #[arg(long)]
    pub reset: bool,
    /// Print how to configure Hermes with commands instead of running the wizard
    #[arg(long)]
    pub non_interactive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Model,
    Pool,
}

#[derive(Debug)]
pub struct SetupSettings {
    pub section: Option<Section>,
    pub reset: bool,
    pub non_interactive: bool,
}

impl SetupSettings {
    pub fn resolve(a: SetupArgs) -> Result<Self, CliError> {
        let section = match a.section.as_deref().map(str::to_lowercase).as_deref() {
            None => None,
            Some("model") => Some(Section::Model),
            Some("pool") => Some(Section::Pool),
            Some(s) if RUNTIME_SECTIONS.contains(&s) => {
                return Err(CliError::usage(format!(
                    "`hermes setup {s}` configures the agent runtime, which this binary does not contain."
                ))
                .hint("this binary's sections: model (provider and model), pool (credential rotation)"));
            }
            Some(s) => {
                return Err(CliError::usage(format!(
                    "Unknown setup section: {s} (choose from: model, pool)"
                )));
            }
        };
        Ok(Self {
            section,
            reset: a.reset,
            non_interactive: a.non_interactive,
        })
    }
}

/// The reason line of the guidance when standard input is not a terminal.
const NO_TERMINAL: &str =
    "Standard input is not a terminal, so the interactive wizard cannot run here.";

/// The reason line of the guidance asked for with `--non-interactive`.
const ASKED: &str = "--non-interactive: the wizard does not run; nothing is changed.";

fn guidance(reason: &str) {
    print!("\n⚕ Hermes Setup — Non-interactive mode\n\n  {reason}\n{GUIDANCE}");
}

const GUIDANCE: &str = "
  Configure Hermes with commands instead:
    hermes model --list                                  (providers)
    hermes model --list --provider deepseek              (a provider's models)
    hermes model --provider deepseek --model deepseek-chat
    printf %s \"$KEY\" | hermes auth add deepseek --type api-key

  Run 'hermes setup' in an interactive terminal to use the full wizard.
";

pub fn run(args: SetupArgs) -> Result<(), CliError> {
    let s = SetupSettings::resolve(args)?;
    let home = crate::home::Home::resolve().map_err(|e| CliError::failure(e.to_string()))?;
    if s.reset {
        let backup = setup::reset_config(&home)?;
        say("✓ Configuration reset to defaults.");
        if let Some(b) = backup {
            say(format!("  Previous config backed up to: {}", b.display()));
            say(format!(
                "  Restore it with: cp '{}' '{}'",
                b.display(),
                home.config_yaml().display()
            ));
        }
        if !ui::stdin_is_tty() {
            return Ok(());
        }
    }
    if s.non_interactive {
        guidance(ASKED);
        return Ok(());
    }
    if !ui::stdin_is_tty() {
        guidance(NO_TERMINAL);
        return Err(
            CliError::usage("'hermes setup' needs an interactive terminal.")
                .hint("use the commands above, or run it on a terminal"),
        );
    }
    let ctx = context()?;
    // Every section reads the credential store: one that cannot be read is reported up front
    // instead of being shown as "no credentials".
    crate::store::AuthStore::load(&ctx.home)?;
    match s.section {
        Some(Section::Model) => {
            section_box("Model & Provider");
            model_section(&ctx)?;
        }
        Some(Section::Pool) => {
            section_box("Credential Rotation");
            pool_section(&ctx)?;
        }
        None => wizard(&ctx)?,
    }
    Ok(())
}

fn section_box(label: &str) {
    say("");
    say("┌─────────────────────────────────────────────────────────┐");
    say(format!("│     ⚕ Hermes Setup — {label:<34} │"));
    say("└─────────────────────────────────────────────────────────┘");
}

fn heading(s: &str) {
    say("");
    say(paint(&format!("◆ {s}"), "1;36"));
}

fn model_section(ctx: &PoolContext) -> Result<Outcome, CliError> {
    heading("Inference Provider");
    say("  Choose how to connect to your main chat model.");
    say("     Guide: https://hermes-agent.nousresearch.com/docs/integrations/providers");
    say("");
    let out = flows::pick(ctx, &flows::PickOptions::default())?;
    say("");
    match out {
        Outcome::Changed => say(paint("✓ Model & Provider configuration complete!", "32")),
        Outcome::NoChange => say("  Model & Provider left as it was."),
    }
    Ok(out)
}

fn pool_section(ctx: &PoolContext) -> Result<(), CliError> {
    heading("Credential Rotation");
    say("  When a provider has several credentials, Hermes rotates between them.");
    say("  Choose how each provider picks the next one.");
    say("");
    let mut changed = false;
    loop {
        let ctx = PoolContext::from_env(ctx.home.clone())?;
        let pools = setup::pools_with_credentials(&ctx);
        if pools.is_empty() {
            say(
                "  No credentials yet — add some with `hermes auth add <provider>` or `hermes setup model`.",
            );
            return Ok(());
        }
        let mut items: Vec<Item> = pools
            .iter()
            .map(|(k, n)| {
                Item::new(format!(
                    "{k}  ({n} credential{}, strategy: {})",
                    if *n == 1 { "" } else { "s" },
                    setup::strategy(&ctx.config, k).as_str()
                ))
            })
            .collect();
        items.push(Item::new("Done"));
        let Some(i) = term::select(
            "Select a provider to configure rotation for:",
            &items,
            0,
            true,
        )?
        else {
            break;
        };
        if i == pools.len() {
            break;
        }
        let key = &pools[i].0;
        let cur = setup::strategy(&ctx.config, key);
        let sitems: Vec<Item> = Strategy::ALL
            .iter()
            .map(|s| {
                let mut t = format!("{:<12} {}", s.as_str(), s.describe());
                if *s == cur {
                    t.push_str("  ← current");
                }
                Item::new(t)
            })
            .collect();
        let d = Strategy::ALL.iter().position(|s| *s == cur).unwrap_or(0);
        let Some(j) = term::select(&format!("Rotation strategy for {key}:"), &sitems, d, false)?
        else {
            say("No change.");
            continue;
        };
        let chosen = Strategy::ALL[j];
        if chosen == cur {
            say(format!("{key} keeps strategy: {}", chosen.as_str()));
            continue;
        }
        let mut config = (*ctx.config).clone();
        setup::set_strategy(&mut config, key, chosen)?;
        say(format!("Set {key} strategy to: {}", chosen.as_str()));
        changed = true;
    }
    say("");
    if changed {
        say(paint("✓ Credential rotation configuration complete!", "32"));
    } else {
        say("  Credential rotation left as it was.");
    }
    Ok(())
}

fn wizard(ctx: &PoolContext) -> Result<(), CliError> {
    say("");
    say("┌─────────────────────────────────────────────────────────┐");
    say("│             ⚕ Hermes Agent Setup Wizard                │");
    say("├─────────────────────────────────────────────────────────┤");
    say("│  Let's configure your Hermes Agent installation.       │");
    say("│  Press Esc to skip a step, Ctrl+C to leave a prompt.   │");
    say("└─────────────────────────────────────────────────────────┘");
    let existing = setup::detect(ctx);
    say("");
    if existing.is_configured() {
        say(paint("✓ You already have Hermes configured:", "32"));
        say(format!(
            "  Provider: {}",
            existing.provider.as_deref().unwrap_or("(not set)")
        ));
        say(format!(
            "  Model:    {}",
            existing.model.as_deref().unwrap_or("(not set)")
        ));
        let pools: Vec<String> = existing
            .pools
            .iter()
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        say(format!(
            "  Credentials: {}",
            if pools.is_empty() {
                "none".to_string()
            } else {
                pools.join(", ")
            }
        ));
        say("  Choose \"Leave unchanged\" (or press Esc) to keep the current provider.");
    } else {
        say("  No existing configuration found — running first-time setup.");
    }
    say("");
    say(format!(
        "  Config file:  {}",
        ctx.home.config_yaml().display()
    ));
    say(format!("  Secrets file: {}", ctx.home.dotenv().display()));
    say(format!(
        "  Credentials:  {}",
        ctx.home.auth_json().display()
    ));
    model_section(ctx)?;
    let ctx = PoolContext::from_env(ctx.home.clone())?;
    pool_section(&ctx)?;
    say("");
    say(paint("✓ Setup complete!", "1;32"));
    let cur = crate::model::current(&ctx);
    say(format!(
        "  Model: {}  ·  Provider: {}",
        cur.model.as_deref().unwrap_or("(not set)"),
        cur.label
    ));
    Ok(())
}
