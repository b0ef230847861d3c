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
//! | `# text` | document title |
//! | `## text` | section heading |
//! | `- text` | bullet item |
//! | `= Label \| value` | a fact row: bold label, wrapped value |
//! | `\| text` | a line of its own (names, addresses); consecutive ones stay together |
//! | `. text` | paragraph text taken literally (use it for producer data) |
//! | blank line | ends a paragraph |
//! | anything else | paragraph text; consecutive lines are joined with a space |
//!
//! Producer text is always passed through the `line` filter (newlines and control
//! characters become spaces) and put after a marker, so it cannot start a directive.

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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: unknown directive «{directive}»")]
pub struct MarkupError {
    pub line: usize,
    pub directive: String,
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

    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
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
                other => {
                    return Err(MarkupError {
                        line: i + 1,
                        directive: other.to_string(),
                    })
                }
            }
        };
        blocks.push(block);
    }
    flush(&mut blocks, &mut para, &mut lines);
    Ok(blocks)
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
    fn unknown_directive_is_an_error() {
        let e = parse("ok\n@bogus x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.directive, "@bogus");
    }
}
