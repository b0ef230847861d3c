//! The letter markup: the text a tera template produces, parsed into blocks.
//!
//! Stage: inside `render`, between the template and the layout engine.
//! Input: the rendered template, a line-oriented text. Output: a list of [`Block`]s.
//! Failure: none; an unknown `@directive` is a template bug and is reported as
//! [`MarkupError`] so that start-up (which test-renders every template) catches it.
//!
//! One line is one instruction:
//!
//! | line | meaning |
//! |---|---|
//! | `@marking text` | exemption marking, top right of every page |
//! | `@running text` | running footer, bottom left of every page after the first |
//! | `@school text` | letterhead: school name |
//! | `@municipality text` | letterhead: municipality |
//! | `@right text` | a right-aligned line (date, reference) |
//! | `@small text` | a paragraph in small type |
//! | `@space` | one empty line of vertical space |
//! | `@lang se` | the following blocks are in another language (BCP 47 code; tagged as such); `@lang` alone returns to the document's |
//! | `# text` | document title |
//! | `## text` | section heading |
//! | `- text` | bullet item |
//! | `= Label \| value` | a fact row: bold label, wrapped value |
//! | `\| text` | a line of its own (names, addresses); consecutive ones stay together |
//! | `. text` | paragraph text taken literally (use it for producer data) |
//! | `@columns 30 20r 50` | starts a table: relative column widths, `r` = right-aligned |
//! | `\|\| a \| b` | the table's header row, repeated at the top of every page it spans |
//! | `\|= a \| b` | a table row; cells wrap inside their column, a row is kept on one page |
//! | blank line | ends a paragraph |
//! | anything else | paragraph text; consecutive lines are joined with a space |
//!
//! Producer text is always passed through the `line` filter (newlines and control
//! characters become spaces) and put after a marker, so it cannot start a directive.
//! In table cells it goes through the `cell` filter, which also replaces `|`.
//!
//! A table lasts from `@columns` (or its first `||`/`|=` line) to the first line
//! that is neither a table row nor blank.

/// One layout block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Marking(String),
    Running(String),
    School(String),
    Municipality(String),
    Right(String),
    Small(String),
    Space,
    Title(String),
    Heading(String),
    Bullet(String),
    Fact {
        label: String,
        value: String,
    },
    /// Lines kept on their own (recipient names and addresses, signature).
    Lines(Vec<String>),
    Paragraph(String),
    Table(Table),
    /// The language of the following blocks (a BCP 47 code); empty: the
    /// document's own. Not drawn: it is tagged on the blocks.
    Lang(String),
}

/// One table column: its relative width and alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub weight: u32,
    pub right: bool,
}

/// A table: columns, an optional header (repeated on every page), rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub header: Option<Vec<String>>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct MarkupError {
    pub line: usize,
    /// The directive or line start that is wrong.
    pub directive: String,
    pub problem: String,
}

fn cells(rest: &str) -> Vec<String> {
    rest.split('|').map(|c| c.trim().to_string()).collect()
}

/// Parses `@columns 30 20r 50`.
fn columns(arg: &str, line: usize) -> Result<Vec<Column>, MarkupError> {
    arg.split_whitespace()
        .map(|w| {
            let (num, right) = match w.strip_suffix('r') {
                Some(n) => (n, true),
                None => (w, false),
            };
            match num.parse::<u32>() {
                Ok(weight) if weight > 0 => Ok(Column { weight, right }),
                _ => Err(MarkupError {
                    line,
                    directive: "@columns".into(),
                    problem: format!("«@columns {arg}»: «{w}» is not a width like 30 or 30r"),
                }),
            }
        })
        .collect()
}

/// Parses the template output.
pub fn parse(text: &str) -> Result<Vec<Block>, MarkupError> {
    let mut blocks = Vec::new();
    let mut para = String::new();
    let mut lines: Vec<String> = Vec::new();

    fn flush(blocks: &mut Vec<Block>, para: &mut String, lines: &mut Vec<String>) {
        if !para.is_empty() {
            blocks.push(Block::Paragraph(std::mem::take(para)));
        }
        if !lines.is_empty() {
            blocks.push(Block::Lines(std::mem::take(lines)));
        }
    }

    let mut table: Option<Table> = None;

    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        // Table lines; blank lines inside a table are ignored.
        let header = line.strip_prefix("||");
        let row = line.strip_prefix("|=");
        if header.is_some() || row.is_some() || (line.is_empty() && table.is_some()) {
            if line.is_empty() {
                continue;
            }
            flush(&mut blocks, &mut para, &mut lines);
            let t = table.get_or_insert_with(Table::default);
            let (cells, is_header) = match (header, row) {
                (Some(h), _) => (cells(h), true),
                (None, Some(r)) => (cells(r), false),
                (None, None) => continue,
            };
            if t.columns.is_empty() {
                t.columns = vec![
                    Column {
                        weight: 1,
                        right: false
                    };
                    cells.len()
                ];
            }
            if cells.len() != t.columns.len() {
                return Err(MarkupError {
                    line: i + 1,
                    directive: line.chars().take(2).collect(),
                    problem: format!(
                        "a table row with {} cells in a table of {} columns",
                        cells.len(),
                        t.columns.len()
                    ),
                });
            }
            if is_header {
                t.header = Some(cells);
            } else {
                t.rows.push(cells);
            }
            continue;
        }
        if let Some(arg) = line.strip_prefix("@columns") {
            flush(&mut blocks, &mut para, &mut lines);
            if let Some(t) = table.take() {
                blocks.push(Block::Table(t));
            }
            table = Some(Table {
                columns: columns(arg.trim(), i + 1)?,
                ..Table::default()
            });
            continue;
        }
        if let Some(t) = table.take() {
            blocks.push(Block::Table(t));
        }
        if line.is_empty() {
            flush(&mut blocks, &mut para, &mut lines);
            continue;
        }
        if let Some(rest) = line
            .strip_prefix("| ")
            .or(if line == "|" { Some("") } else { None })
        {
            if !para.is_empty() {
                blocks.push(Block::Paragraph(std::mem::take(&mut para)));
            }
            lines.push(rest.trim().to_string());
            continue;
        }
        let text_part = line
            .strip_prefix(". ")
            .or(if line == "." { Some("") } else { None });
        let is_plain = text_part.is_some() || !starts_with_marker(line);
        if is_plain {
            if !lines.is_empty() {
                blocks.push(Block::Lines(std::mem::take(&mut lines)));
            }
            let t = text_part.unwrap_or(line).trim();
            if !t.is_empty() {
                if !para.is_empty() {
                    para.push(' ');
                }
                para.push_str(t);
            }
            continue;
        }
        flush(&mut blocks, &mut para, &mut lines);
        let block = if let Some(rest) = line.strip_prefix("## ") {
            Block::Heading(rest.trim().to_string())
        } else if let Some(rest) = line.strip_prefix("# ") {
            Block::Title(rest.trim().to_string())
        } else if let Some(rest) = line.strip_prefix("- ") {
            Block::Bullet(rest.trim().to_string())
        } else if let Some(rest) = line.strip_prefix("= ") {
            let (label, value) = rest.split_once('|').unwrap_or((rest, ""));
            Block::Fact {
                label: label.trim().to_string(),
                value: value.trim().to_string(),
            }
        } else {
            let (directive, arg) = line.split_once(' ').unwrap_or((line, ""));
            let arg = arg.trim().to_string();
            match directive {
                "@marking" => Block::Marking(arg),
                "@running" => Block::Running(arg),
                "@school" => Block::School(arg),
                "@municipality" => Block::Municipality(arg),
                "@right" => Block::Right(arg),
                "@small" => Block::Small(arg),
                "@space" => Block::Space,
                "@lang" if is_language_code(&arg) => Block::Lang(arg),
                "@lang" => {
                    return Err(MarkupError {
                        line: i + 1,
                        directive: "@lang".into(),
                        problem: format!("«{arg}» is not a language code like se or nn-NO"),
                    })
                }
                other => {
                    return Err(MarkupError {
                        line: i + 1,
                        directive: other.to_string(),
                        problem: format!("unknown directive «{other}»"),
                    })
                }
            }
        };
        blocks.push(block);
    }
    flush(&mut blocks, &mut para, &mut lines);
    if let Some(t) = table.take() {
        blocks.push(Block::Table(t));
    }
    Ok(blocks)
}

/// Empty, or a BCP 47 tag of letters and digits in parts of 1–8 (`se`, `nn-NO`, `smj`).
fn is_language_code(code: &str) -> bool {
    code.is_empty()
        || (code.len() <= 35
            && code.split('-').all(|part| {
                (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
            })
            && code.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
}

fn starts_with_marker(line: &str) -> bool {
    line.starts_with('@')
        || line.starts_with("# ")
        || line.starts_with("## ")
        || line.starts_with("- ")
        || line.starts_with("= ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_line() {
        let text = "@marking UO\n@school Skole\n# Tittel\nførste\nandre\n\n. # ikke tittel\n- punkt\n= Elev | Kari\n| Navn\n| Gate 1\n@space\n## Overskrift\n";
        let blocks = parse(text).unwrap();
        assert_eq!(
            blocks,
            vec![
                Block::Marking("UO".into()),
                Block::School("Skole".into()),
                Block::Title("Tittel".into()),
                Block::Paragraph("første andre".into()),
                Block::Paragraph("# ikke tittel".into()),
                Block::Bullet("punkt".into()),
                Block::Fact {
                    label: "Elev".into(),
                    value: "Kari".into()
                },
                Block::Lines(vec!["Navn".into(), "Gate 1".into()]),
                Block::Space,
                Block::Heading("Overskrift".into()),
            ]
        );
    }

    #[test]
    fn parses_a_table() {
        let text =
            "# T\n@columns 30 10r\n|| Dato | Timer\n|= 1. mars | 4\n\n|= 2. mars | 10\nEtter.\n";
        let blocks = parse(text).unwrap();
        assert_eq!(
            blocks,
            vec![
                Block::Title("T".into()),
                Block::Table(Table {
                    columns: vec![
                        Column {
                            weight: 30,
                            right: false
                        },
                        Column {
                            weight: 10,
                            right: true
                        }
                    ],
                    header: Some(vec!["Dato".into(), "Timer".into()]),
                    rows: vec![
                        vec!["1. mars".into(), "4".into()],
                        vec!["2. mars".into(), "10".into()]
                    ],
                }),
                Block::Paragraph("Etter.".into()),
            ]
        );
        let e = parse("@columns 1 1\n|= a | b | c\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("3 cells in a table of 2 columns"));
        assert!(parse("@columns 1 x\n").is_err());
    }

    #[test]
    fn a_passage_language_is_a_block_and_checked() {
        let blocks = parse(
            "@lang se
Buorre beaivi.
@lang
God dag.
",
        )
        .unwrap();
        assert_eq!(
            blocks,
            vec![
                Block::Lang("se".into()),
                Block::Paragraph("Buorre beaivi.".into()),
                Block::Lang(String::new()),
                Block::Paragraph("God dag.".into()),
            ]
        );
        assert!(parse(
            "@lang s e x
"
        )
        .is_err());
        assert!(parse(
            "@lang <x>
"
        )
        .is_err());
    }

    #[test]
    fn unknown_directive_is_an_error() {
        let e = parse("ok\n@bogus x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.directive, "@bogus");
    }
}
