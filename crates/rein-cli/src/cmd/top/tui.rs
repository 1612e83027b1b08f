//! The live view of `rein top` (ratatui over crossterm).
//!
//! Cost: every refresh reads the CPU column and the sort column of every group, and every
//! column only for the rows on screen, through files the tree keeps open (see
//! `rein::tree`), so a refresh of 1,000 groups reads about 2,000 files, not 10,000.

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row as TableRow, Table, TableState, Wrap};
use ratatui::{DefaultTerminal, Frame};
use rein::tree::{Read, Scope, Tree};
use rein::units::Limit;
use rein::{Group, GroupPath};

use super::model::{self, History, Line, Row, View};
use crate::cli::top::Column;

/// How long a message stays in the footer.
const MESSAGE_TIME: Duration = Duration::from_secs(6);
/// The first refresh comes sooner, so rates show up quickly.
const FIRST_REFRESH: Duration = Duration::from_millis(300);
/// Rows that came on screen without their columns are read at most this often.
const CATCH_UP: Duration = Duration::from_millis(200);
/// Width of the memory bar, in cells.
const BAR: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Freeze,
    Thaw,
    Kill,
}

enum Mode {
    Normal,
    Filter,
    Confirm(Action, GroupPath),
}

struct App {
    tree: Tree,
    history: History,
    rows: Vec<Row>,
    lines: Vec<Line>,
    view: View,
    interval: Duration,
    mode: Mode,
    /// The selected group (kept across refreshes by path) and its line.
    selected: Option<GroupPath>,
    cursor: usize,
    offset: usize,
    /// Table rows that fit on screen at the last draw.
    page: usize,
    /// Groups on screen at the last draw: they get every column at the next refresh.
    visible: HashSet<GroupPath>,
    message: Option<(String, Instant)>,
    last_refresh: Option<Instant>,
    took: Duration,
    unnamed: usize,
    errors: usize,
}

/// Runs the live view until q, ^C, SIGTERM or the terminal goes away; the terminal is
/// restored on every way out but a hangup (a panic included: ratatui's hook restores it).
pub fn run(tree: Tree, view: View, interval: Duration) -> anyhow::Result<()> {
    // SIGTERM is read from a signalfd so the terminal can be restored. SIGHUP keeps its
    // default action: the terminal is gone, and crossterm 0.29 spins on a tty at EOF.
    rein::launch::block(&[libc::SIGTERM]);
    let sfd = rein::launch::signalfd(&[libc::SIGTERM])?;
    let mut terminal = ratatui::try_init()?;
    let mut app = App {
        tree,
        history: History::default(),
        rows: Vec::new(),
        lines: Vec::new(),
        view,
        interval,
        mode: Mode::Normal,
        selected: None,
        cursor: 0,
        offset: 0,
        page: 0,
        visible: HashSet::new(),
        message: None,
        last_refresh: None,
        took: Duration::ZERO,
        unnamed: 0,
        errors: 0,
    };
    let result = app.run(&mut terminal, &sfd);
    ratatui::restore();
    result
}

/// What woke the loop up.
enum Wake {
    Timeout,
    Input,
    Signal,
    Hangup,
}

/// Waits for terminal input or SIGTERM, at most `timeout`. crossterm is asked for events
/// only once the terminal has input: its reader loops forever on a terminal at EOF.
fn wait(sfd: &OwnedFd, timeout: Duration) -> anyhow::Result<Wake> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(&stdin, PollFlags::IN), PollFd::new(sfd, PollFlags::IN)];
    let ts = Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    match poll(&mut fds, Some(&ts)) {
        Ok(0) => Ok(Wake::Timeout),
        Ok(_) => {
            let (term, sig) = (fds[0].revents(), fds[1].revents());
            if term.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                Ok(Wake::Hangup)
            } else if sig.contains(PollFlags::IN) {
                Ok(Wake::Signal)
            } else {
                Ok(Wake::Input)
            }
        }
        // SIGWINCH (crossterm's handler): look for the Resize event.
        Err(rustix::io::Errno::INTR) => Ok(Wake::Input),
        Err(e) => Err(std::io::Error::from(e).into()),
    }
}

impl App {
    fn run(&mut self, terminal: &mut DefaultTerminal, sfd: &OwnedFd) -> anyhow::Result<()> {
        let mut next = Instant::now();
        let mut dirty = true;
        loop {
            let now = Instant::now();
            if now >= next {
                let first = self.last_refresh.is_none();
                self.refresh();
                next = now + if first { FIRST_REFRESH.min(self.interval) } else { self.interval };
                dirty = true;
            }
            if self.message.as_ref().is_some_and(|(_, at)| at.elapsed() > MESSAGE_TIME) {
                self.message = None;
                dirty = true;
            }
            if dirty {
                terminal.draw(|f| self.draw(f))?;
                dirty = false;
                // Rows that scrolled into view are read soon rather than at the next tick.
                if let Some(last) = self.last_refresh
                    && self.lines_on_screen().any(|l| !self.rows[l.row].complete)
                {
                    next = next.min(last + CATCH_UP);
                }
            }
            let mut timeout = next.saturating_duration_since(Instant::now());
            if let Some((_, at)) = &self.message {
                timeout = timeout.min(MESSAGE_TIME.saturating_sub(at.elapsed()));
            }
            match wait(sfd, timeout)? {
                Wake::Timeout => {}
                Wake::Signal => {
                    let _ = rein::launch::read_signal(sfd.as_fd());
                    return Ok(());
                }
                Wake::Hangup => return Ok(()),
                Wake::Input => {
                    // Everything crossterm has parsed, including keys read together.
                    while event::poll(Duration::ZERO)? {
                        match event::read()? {
                            Event::Key(k) if k.kind == KeyEventKind::Press => {
                                if self.key(k, &mut next) {
                                    return Ok(());
                                }
                                dirty = true;
                            }
                            Event::Resize(..) => dirty = true,
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    /// Reads the groups: the CPU and sort columns of all, every column of those on screen.
    fn refresh(&mut self) {
        let base = Column::Cpu.fields() | self.view.sort.fields();
        let full = model::all_fields();
        let visible = &self.visible;
        let snap = self.tree.sample_with(&|p| Read::Fields(if visible.contains(p) { full } else { base }));
        self.rows = self.history.rows(&snap, &|p| visible.contains(p));
        self.took = snap.took;
        self.unnamed = snap.unnamed;
        self.errors = snap.errors.len();
        self.last_refresh = Some(Instant::now());
        self.relayout();
    }

    /// Orders the lines again and keeps the selection on its group.
    fn relayout(&mut self) {
        self.lines = model::lines(&self.rows, &self.view);
        if let Some(sel) = &self.selected
            && let Some(i) = self.lines.iter().position(|l| &self.rows[l.row].path == sel)
        {
            self.cursor = i;
        }
        self.cursor = self.cursor.min(self.lines.len().saturating_sub(1));
        self.selected = self.lines.get(self.cursor).map(|l| self.rows[l.row].path.clone());
    }

    fn lines_on_screen(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().skip(self.offset).take(self.page)
    }

    fn selected_row(&self) -> Option<&Row> {
        self.lines.get(self.cursor).map(|l| &self.rows[l.row])
    }

    fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), Instant::now()));
    }

    fn move_cursor(&mut self, to: isize) {
        let last = self.lines.len().saturating_sub(1) as isize;
        self.cursor = to.clamp(0, last.max(0)) as usize;
        self.selected = self.lines.get(self.cursor).map(|l| self.rows[l.row].path.clone());
    }

    /// Handles a key; true to quit. `next` is the time of the next refresh.
    fn key(&mut self, k: KeyEvent, next: &mut Instant) -> bool {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return true;
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Filter => {
                match k.code {
                    KeyCode::Enter => {}
                    KeyCode::Esc => self.view.filter.clear(),
                    KeyCode::Backspace => {
                        self.view.filter.pop();
                        self.mode = Mode::Filter;
                    }
                    KeyCode::Char(c) => {
                        self.view.filter.push(c);
                        self.mode = Mode::Filter;
                    }
                    _ => self.mode = Mode::Filter,
                }
                self.relayout();
            }
            Mode::Confirm(action, path) => {
                if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.act(action, &path);
                    *next = Instant::now();
                } else {
                    self.say("cancelled");
                }
            }
            Mode::Normal => {
                let page = self.page.max(1) as isize;
                let cursor = self.cursor as isize;
                match k.code {
                    KeyCode::Char('q') => return true,
                    KeyCode::Esc if !self.view.filter.is_empty() => {
                        self.view.filter.clear();
                        self.relayout();
                    }
                    KeyCode::Up => self.move_cursor(cursor - 1),
                    KeyCode::Down => self.move_cursor(cursor + 1),
                    KeyCode::PageUp => self.move_cursor(cursor - page),
                    KeyCode::PageDown => self.move_cursor(cursor + page),
                    KeyCode::Home => self.move_cursor(0),
                    KeyCode::End => self.move_cursor(isize::MAX / 2),
                    KeyCode::Char('<') | KeyCode::Left | KeyCode::Char('>') | KeyCode::Right => {
                        let by = if matches!(k.code, KeyCode::Char('<') | KeyCode::Left) { -1 } else { 1 };
                        self.view.sort = self.view.sort.step(by);
                        // The new column was read only for the rows on screen: read it for all.
                        *next = Instant::now();
                        self.relayout();
                    }
                    KeyCode::Char('r') => {
                        self.view.reverse = !self.view.reverse;
                        self.relayout();
                    }
                    KeyCode::Char('t') => {
                        self.view.tree = !self.view.tree;
                        self.relayout();
                    }
                    KeyCode::Char('/') => self.mode = Mode::Filter,
                    KeyCode::Char('a') => {
                        let scope = if self.tree.scope() == Scope::All { Scope::Own } else { Scope::All };
                        self.tree.set_scope(scope);
                        *next = Instant::now();
                        self.say(if scope == Scope::All { "showing every group" } else { "showing rein's groups" });
                    }
                    KeyCode::Char('f') | KeyCode::Char('k') => match self.selected_row() {
                        Some(row) => {
                            let action = match (k.code, row.frozen) {
                                (KeyCode::Char('k'), _) => Action::Kill,
                                (_, Some(true)) => Action::Thaw,
                                _ => Action::Freeze,
                            };
                            self.mode = Mode::Confirm(action, row.path.clone());
                        }
                        None => self.say("no group selected"),
                    },
                    _ => {}
                }
            }
        }
        false
    }

    /// Freezes, thaws or kills a group (after the user said yes).
    fn act(&mut self, action: Action, path: &GroupPath) {
        let result = Group::open(self.tree.hierarchy().clone(), path).and_then(|g| match action {
            Action::Freeze => g.freeze(true),
            Action::Thaw => g.freeze(false),
            Action::Kill => g.kill(),
        });
        match result {
            Ok(()) => {
                let done = match action {
                    Action::Freeze => "froze",
                    Action::Thaw => "thawed",
                    Action::Kill => "killed every process in",
                };
                self.say(format!("{done} {path}"));
            }
            Err(e) => {
                let hint = e.hint().map(|h| format!(" (hint: {h})")).unwrap_or_default();
                self.say(format!("error: {e}{hint}"));
            }
        }
    }

    fn draw(&mut self, f: &mut Frame) {
        let [head, body, foot] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)]).areas(f.area());
        self.draw_header(f, head);
        self.draw_table(f, body);
        self.draw_footer(f, foot);
        if let Mode::Confirm(action, path) = &self.mode {
            draw_confirm(f, *action, path);
        }
    }

    fn draw_header(&self, f: &mut Frame, area: Rect) {
        let h = self.tree.hierarchy();
        let scope = if self.tree.scope() == Scope::All { "groups" } else { "of rein's groups" };
        let mut text = format!(
            " rein top · {} · {} {scope} under {} · every {:.1}s · read in {:.1} ms",
            h.mode(),
            self.lines.len(),
            self.tree.subtree(),
            self.interval.as_secs_f64(),
            self.took.as_secs_f64() * 1e3,
        );
        if self.view.tree {
            text.push_str(" · tree");
        }
        if !self.view.filter.is_empty() {
            text.push_str(&format!(" · filter '{}'", self.view.filter));
        }
        if self.unnamed > 0 {
            text.push_str(&format!(" · {} unnamed groups left out", self.unnamed));
        }
        if self.errors > 0 {
            text.push_str(&format!(" · {} unreadable", self.errors));
        }
        f.render_widget(Paragraph::new(text).style(Style::new().add_modifier(Modifier::BOLD)), area);
    }

    fn draw_table(&mut self, f: &mut Frame, area: Rect) {
        // One line for the header row.
        self.page = area.height.saturating_sub(1) as usize;
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.page > 0 && self.cursor >= self.offset + self.page {
            self.offset = self.cursor + 1 - self.page;
        }
        self.offset = self.offset.min(self.lines.len().saturating_sub(self.page));
        self.visible = self.lines_on_screen().map(|l| self.rows[l.row].path.clone()).collect();
        if self.lines.is_empty() {
            let text = match self.tree.scope() {
                Scope::Own => format!(
                    "no groups of rein's at or under {} (rein's are /rein and groups rein marked); press a for every group",
                    self.tree.subtree()
                ),
                Scope::All => format!("no groups at or under {}", self.tree.subtree()),
            };
            f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
            return;
        }
        let header = TableRow::new(Column::ALL.iter().map(|c| {
            let mut text = c.header().to_string();
            let mut style = Style::new().add_modifier(Modifier::BOLD);
            if *c == self.view.sort {
                let down = (*c != Column::Group) != self.view.reverse;
                text.push(if down { '▼' } else { '▲' });
                style = style.fg(Color::Cyan);
            }
            if *c != Column::Group {
                text = right(text, width(*c) as usize);
            }
            Cell::from(text).style(style)
        }))
        .style(Style::new().add_modifier(Modifier::REVERSED));
        let rows: Vec<TableRow> = self
            .lines_on_screen()
            .map(|l| {
                let row = &self.rows[l.row];
                let mut name = vec![Span::raw(format!("{}{}", "  ".repeat(l.depth), l.label))];
                if row.frozen == Some(true) {
                    name.push(Span::styled(" [frozen]", Style::new().fg(Color::Cyan)));
                }
                let mut cells = vec![Cell::from(TextLine::from(name))];
                for c in &Column::ALL[1..] {
                    cells.push(match c {
                        Column::MemPct => bar(row),
                        Column::Oom if row.oom_kill.is_some_and(|n| n > 0) => {
                            Cell::from(right(row.cell(*c), 5)).style(Style::new().fg(Color::Red))
                        }
                        _ => Cell::from(right(row.cell(*c), width(*c) as usize)),
                    });
                }
                TableRow::new(cells)
            })
            .collect();
        let widths: Vec<Constraint> = Column::ALL
            .iter()
            .map(|c| if *c == Column::Group { Constraint::Min(16) } else { Constraint::Length(width(*c)) })
            .collect();
        let table = Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
        let mut state = TableState::default().with_selected(Some(self.cursor - self.offset));
        f.render_stateful_widget(table, area, &mut state);
    }

    fn draw_footer(&self, f: &mut Frame, area: Rect) {
        let text = match &self.mode {
            Mode::Filter => format!(" filter: {}▏ (Enter keeps it, Esc clears it)", self.view.filter),
            Mode::Confirm(..) => " y confirms, any other key cancels".to_string(),
            Mode::Normal => match &self.message {
                Some((m, _)) => format!(" {m}"),
                None => {
                    " q quit  ↑↓ select  < > sort  r reverse  / filter  t tree  a all/rein's  f freeze/thaw  k kill"
                        .to_string()
                }
            },
        };
        f.render_widget(Paragraph::new(text).style(Style::new().fg(Color::Yellow)), area);
    }
}

fn width(c: Column) -> u16 {
    match c {
        Column::Group => 16,
        Column::MemPct => (BAR + 5) as u16,
        Column::Oom => 5,
        _ => c.header().len().max(6) as u16 + 1,
    }
}

fn right(text: String, w: usize) -> String {
    format!("{text:>w$}")
}

/// Memory use against the limit as a bar and a percentage.
fn bar(row: &Row) -> Cell<'static> {
    let Some(share) = row.mem_share() else {
        let text = if matches!(row.limit, Some(Limit::Max)) { "no limit" } else { "-" };
        return Cell::from(right(text.to_string(), BAR + 5));
    };
    let filled = ((share * BAR as f64).round() as usize).min(BAR);
    let color = match share {
        s if s >= 0.9 => Color::Red,
        s if s >= 0.7 => Color::Yellow,
        _ => Color::Green,
    };
    Cell::from(TextLine::from(vec![
        Span::styled("█".repeat(filled), Style::new().fg(color)),
        Span::styled("░".repeat(BAR - filled), Style::new().fg(Color::DarkGray)),
        Span::raw(format!("{:>4.0}%", share * 100.0)),
    ]))
}

fn draw_confirm(f: &mut Frame, action: Action, path: &GroupPath) {
    let question = match action {
        Action::Freeze => format!("Freeze every process in {path} and its child groups?"),
        Action::Thaw => format!("Thaw {path} and its child groups?"),
        Action::Kill => format!("Kill every process in {path} and its child groups (SIGKILL)?"),
    };
    let area = f.area();
    let w = (question.len() as u16 + 4).clamp(20, area.width.saturating_sub(2).max(20));
    let popup = Rect {
        x: area.x + area.width.saturating_sub(w) / 2,
        y: area.y + area.height.saturating_sub(5) / 2,
        width: w.min(area.width),
        height: 5.min(area.height),
    };
    f.render_widget(Clear, popup);
    let text = vec![TextLine::from(question), TextLine::from(""), TextLine::from("y: yes   any other key: no")];
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).block(Block::bordered().title(" confirm ")), popup);
}
