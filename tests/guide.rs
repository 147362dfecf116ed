//! The guide (`guide/src/`, an mdBook) and the Markdown files beside the
//! code hold together: every chapter is in the book's table of contents,
//! every chapter with Rust in it is tested as doc tests, and every link
//! between them leads to a file and a heading that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The guide's chapters, by file name.
fn chapters() -> BTreeSet<String> {
    std::fs::read_dir(root().join("guide/src"))
        .expect("read guide/src")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md") && name != "SUMMARY.md")
        .collect()
}

/// mdBook's id for a heading: lower case, letters, digits, `-` and `_`
/// kept, spaces made `-`, everything else dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// Every `](target)` link of a Markdown file outside code blocks and code
/// spans.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans (`a](b)` in an example) are not links.
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_chapter_is_in_the_table_of_contents_and_every_entry_exists() {
    let summary = std::fs::read_to_string(root().join("guide/src/SUMMARY.md")).expect("read SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    let chapters = chapters();
    assert!(chapters.len() >= 12, "{chapters:?}");
    for chapter in &chapters {
        assert!(listed.contains(chapter), "{chapter} is not in SUMMARY.md");
    }
    for entry in &listed {
        assert!(
            chapters.contains(entry),
            "SUMMARY.md lists {entry}, which does not exist"
        );
    }
}

#[test]
fn every_chapter_with_rust_in_it_is_tested() {
    let facade = std::fs::read_to_string(root().join("src/lib.rs")).expect("read src/lib.rs");
    let sangaboard =
        std::fs::read_to_string(root().join("labthings-sangaboard/src/lib.rs")).expect("read the Sangaboard crate");
    for chapter in chapters() {
        let text = std::fs::read_to_string(root().join("guide/src").join(&chapter)).expect("read a chapter");
        if !text.lines().any(|line| line.starts_with("```rust")) {
            continue;
        }
        let included = format!("guide/src/{chapter}\")");
        assert!(
            facade.contains(&included) || sangaboard.contains(&included),
            "{chapter} has Rust examples but no crate includes it as doc tests (src/lib.rs, mod documentation)"
        );
    }
}

#[test]
fn every_link_between_the_documents_leads_somewhere() {
    let mut documents: Vec<PathBuf> = chapters().iter().map(|c| root().join("guide/src").join(c)).collect();
    for file in [
        "README.md",
        "CONTRIBUTING.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "CHANGELOG.md",
    ] {
        documents.push(root().join(file));
    }
    let mut checked = 0;
    for document in &documents {
        let text = std::fs::read_to_string(document).expect("read a document");
        let folder = document.parent().expect("a folder");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if path.is_empty() {
                document.clone()
            } else {
                folder.join(path)
            };
            assert!(
                target.exists(),
                "{}: the link {link} leads to {}, which does not exist",
                document.display(),
                target.display()
            );
            if !fragment.is_empty() {
                let headings = anchors(&std::fs::read_to_string(&target).expect("read the target"));
                assert!(
                    headings.contains(fragment),
                    "{}: the link {link}: no heading #{fragment} in {}",
                    document.display(),
                    target.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} links found: is the link reader broken?");
}

#[test]
fn the_anchor_rule_is_mdbooks() {
    assert_eq!(
        anchor(" The whole `main`: `labthings::cli::serve`"),
        "the-whole-main-labthingscliserve"
    );
    assert_eq!(
        anchor("Limits: what one client cannot exhaust"),
        "limits-what-one-client-cannot-exhaust"
    );
    assert_eq!(links("see [a](b.md#c) and `[x](y)`"), ["b.md#c"]);
}
