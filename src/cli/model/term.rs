//! The terminal primitives of `hermes model` and `hermes setup`: an arrow-key menu whose cursor
//! row carries a `❯` marker (visible without colour), with optional fuzzy search, and line and
//! masked prompts that treat Ctrl-C / Ctrl-D as "cancel" instead of killing the process with the
//! terminal left in raw mode.

use std::io::Write;

use dialoguer::console::{Key, Term};

use crate::cli::{CliError, ui};

/// ANSI styling, only when colour is allowed (`NO_COLOR`, `TERM=dumb` and pipes turn it off).
pub fn paint(s: &str, sgr: &str) -> String {
    if ui::colour() {
        format!("\x1b[{sgr}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Keeps standard input in raw mode (no echo, no line buffering, no signals) while a menu or
/// prompt runs, so keys typed faster than they are read are neither echoed nor lost, and
/// restores the saved mode when dropped.
struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter() -> Self {
        // SAFETY: plain termios calls on fd 0 with a zeroed struct the kernel fills in.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Self { saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            t.c_oflag = saved.c_oflag;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return Self { saved: None };
            }
            Self { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

fn io_err(e: std::io::Error) -> CliError {
    CliError::failure(format!("terminal input failed: {e}"))
}

/// One row of a [`select`] menu.
pub struct Item {
    pub text: String,
    /// Part of the fuzzy search (the "extra" rows of the model list are not).
    pub searchable: bool,
}

impl Item {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            searchable: true,
        }
    }
    pub fn extra(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            searchable: false,
        }
    }
}

/// Fuzzy score of `query` against `text` (lower is better); `None` when the query's characters
/// do not all appear in order.
pub fn fuzzy_score(query: &str, text: &str) -> Option<usize> {
    let q = query.to_lowercase();
    let t = text.to_lowercase();
    if q.is_empty() {
        return Some(0);
    }
    if let Some(pos) = t.find(&q) {
        return Some(pos);
    }
    let tc: Vec<char> = t.chars().collect();
    let mut i = 0;
    let mut first = None;
    for c in q.chars() {
        while i < tc.len() && tc[i] != c {
            i += 1;
        }
        if i == tc.len() {
            return None;
        }
        first.get_or_insert(i);
        i += 1;
    }
    Some(1000 + (i - first.unwrap_or(0)))
}

/// Shows a menu and returns the chosen index, or `None` on Esc / `q` / Ctrl-C / Ctrl-D.
///
/// With `searchable`, `/` or any letter starts a fuzzy search: typing filters, Backspace edits,
/// Ctrl-U clears, Esc leaves the search, Enter picks the row under the cursor.
pub fn select(
    title: &str,
    items: &[Item],
    default: usize,
    searchable: bool,
) -> Result<Option<usize>, CliError> {
    let term = Term::stdout();
    let mut cursor = default.min(items.len().saturating_sub(1));
    let mut query: Option<String> = None;
    let mut drawn = 0usize;
    let raw = RawMode::enter();
    let _ = term.hide_cursor();
    let result = loop {
        let visible: Vec<usize> = match &query {
            None => (0..items.len()).collect(),
            Some(q) => {
                let mut scored: Vec<(usize, usize)> = items
                    .iter()
                    .enumerate()
                    .filter(|(_, it)| it.searchable)
                    .filter_map(|(i, it)| fuzzy_score(q, &it.text).map(|s| (s, i)))
                    .collect();
                scored.sort();
                scored.into_iter().map(|(_, i)| i).collect()
            }
        };
        let pos = visible.iter().position(|i| *i == cursor).unwrap_or(0);
        if let Some(i) = visible.get(pos) {
            cursor = *i;
        }
        // Draw.
        let (rows, cols) = term.size();
        let width = (cols as usize).saturating_sub(1).max(20);
        let room = (rows as usize).saturating_sub(4).max(5);
        let start = pos
            .saturating_sub(room / 2)
            .min(visible.len().saturating_sub(room));
        let mut lines: Vec<String> = vec![paint(title, "1;33")];
        let hint = match &query {
            Some(q) => format!("  Search: {q}▎  BACKSPACE edit  Ctrl+U clear  ESC stop"),
            None if searchable => {
                "  ↑↓ navigate  ENTER select  / or type to search  ESC cancel".to_string()
            }
            None => "  ↑↓ navigate  ENTER select  ESC cancel".to_string(),
        };
        lines.push(paint(&hint, "2"));
        if visible.is_empty() {
            lines.push("  No matches".into());
        }
        for (k, i) in visible.iter().enumerate().skip(start).take(room) {
            let text: String = items[*i].text.chars().take(width - 2).collect();
            if k == pos {
                lines.push(paint(&format!("❯ {text}"), "1;32"));
            } else {
                lines.push(format!("  {text}"));
            }
        }
        if drawn > 0 {
            let _ = term.clear_last_lines(drawn);
        }
        let mut out = std::io::stdout().lock();
        for l in &lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
        drop(out);
        drawn = lines.len();
        // Keys.
        let key = match term.read_key_raw() {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break None,
            Err(e) => {
                let _ = term.show_cursor();
                return Err(io_err(e));
            }
        };
        let n = visible.len();
        match key {
            Key::CtrlC | Key::Char('\u{4}') => break None,
            Key::Escape => {
                if query.is_some() {
                    query = None;
                } else {
                    break None;
                }
            }
            Key::ArrowUp | Key::BackTab if n > 0 => cursor = visible[(pos + n - 1) % n],
            Key::ArrowDown | Key::Tab if n > 0 => cursor = visible[(pos + 1) % n],
            Key::Home if n > 0 => cursor = visible[0],
            Key::End if n > 0 => cursor = visible[n - 1],
            Key::PageUp if n > 0 => cursor = visible[pos.saturating_sub(room)],
            Key::PageDown if n > 0 => cursor = visible[(pos + room).min(n - 1)],
            Key::Enter if n > 0 => break Some(cursor),
            Key::Backspace => {
                if let Some(q) = &mut query {
                    q.pop();
                    cursor = usize::MAX;
                }
            }
            Key::Char('\u{15}') => {
                if let Some(q) = &mut query {
                    q.clear();
                    cursor = usize::MAX;
                }
            }
            Key::Char(c) if query.is_some() && !c.is_control() => {
                if let Some(q) = &mut query {
                    q.push(c);
                    // The best match takes the cursor whenever the query changes.
                    cursor = usize::MAX;
                }
            }
            Key::Char(' ') if n > 0 => break Some(cursor),
            Key::Char('k') if !searchable && n > 0 => cursor = visible[(pos + n - 1) % n],
            Key::Char('j') if !searchable && n > 0 => cursor = visible[(pos + 1) % n],
            Key::Char('q') if !searchable => break None,
            Key::Char('/') if searchable => query = Some(String::new()),
            Key::Char(c) if searchable && c.is_alphanumeric() => {
                query = Some(c.to_string());
                cursor = usize::MAX;
            }
            _ => {}
        }
    };
    let _ = term.clear_last_lines(drawn);
    let _ = term.show_cursor();
    drop(raw);
    match result {
        Some(i) => println!("{} {}", paint(title, "1;33"), items[i].text),
        None => println!("{} {}", paint(title, "1;33"), paint("(cancelled)", "2")),
    }
    Ok(result)
}

/// Reads one line on the terminal, echoing typed characters (or `*` when `masked`).
/// `None` on Ctrl-C, Ctrl-D or end of input: the caller treats that as "cancel".
pub fn read_line(prompt: &str, masked: bool) -> Result<Option<String>, CliError> {
    let term = Term::stdout();
    let mut out = std::io::stdout();
    let _ = write!(out, "{prompt}");
    let _ = out.flush();
    let mut buf = String::new();
    let _raw = RawMode::enter();
    loop {
        let key = match term.read_key_raw() {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                let _ = writeln!(out);
                return Ok(None);
            }
            Err(e) => return Err(io_err(e)),
        };
        match key {
            Key::Enter | Key::Char('\n') | Key::Char('\r') => {
                let _ = write!(out, "\r\n");
                return Ok(Some(buf.trim().to_string()));
            }
            Key::CtrlC | Key::Char('\u{4}') => {
                let _ = write!(out, "\r\n");
                return Ok(None);
            }
            Key::Backspace if buf.pop().is_some() => {
                let _ = write!(out, "\x08 \x08");
            }
            Key::Char('\u{15}') => {
                for _ in 0..buf.chars().count() {
                    let _ = write!(out, "\x08 \x08");
                }
                buf.clear();
            }
            Key::Char(c) if !c.is_control() => {
                buf.push(c);
                let _ = write!(out, "{}", if masked { '*' } else { c });
            }
            // Arrow keys and other escape sequences are ignored, never taken as text.
            _ => {}
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_prefers_substrings_then_subsequences() {
        assert_eq!(fuzzy_score("flash", "deepseek-v4-flash"), Some(12));
        assert!(fuzzy_score("dsf", "deepseek-v4-flash").unwrap() >= 1000);
        assert_eq!(fuzzy_score("zzz", "deepseek-v4-flash"), None);
        assert!(fuzzy_score("FLASH", "deepseek-v4-flash").is_some());
    }
}
