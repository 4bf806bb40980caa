//! `.ci/check-imports` catches what it is there to catch: a copy of `src/` and the script in a
//! temporary directory, one violation planted in each case, the script run on the copy. Each
//! failing case checks the exit status and that the output names the offending file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory of the copy");
    for entry in fs::read_dir(from).expect("read a directory of src/") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a file of src/");
        }
    }
}

/// `src/` and `.ci/check-imports` of the repository, copied into a temporary directory.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_tree(&repo().join("src"), &dir.path().join("src"));
    fs::create_dir_all(dir.path().join(".ci")).expect("create .ci");
    fs::copy(
        repo().join(".ci/check-imports"),
        dir.path().join(".ci/check-imports"),
    )
    .expect("copy the script");
    dir
}

/// The script run on `root`: its exit code and what it printed (stdout, then stderr).
fn check(root: &Path) -> (Option<i32>, String) {
    let output = Command::new("bash")
        .arg(".ci/check-imports")
        .arg(root)
        .current_dir(root)
        .output()
        .expect("run bash .ci/check-imports");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

fn edit(root: &Path, file: &str, change: impl FnOnce(String) -> String) {
    let path = root.join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
    fs::write(&path, change(text)).unwrap_or_else(|e| panic!("write {file}: {e}"));
}

fn plant_at_top(root: &Path, file: &str, line: &str) {
    edit(root, file, |text| format!("{line}\n{text}"));
}

/// The check fails, and its output names each of `names`.
fn assert_fails_naming(root: &Path, names: &[&str]) {
    let (code, output) = check(root);
    assert_eq!(code, Some(1), "the check should fail:\n{output}");
    for name in names {
        assert!(
            output.contains(name),
            "the output should name {name}:\n{output}"
        );
    }
}

#[test]
fn the_unchanged_copy_passes_as_the_repository_does() {
    let dir = copy();
    let (on_repo, repo_output) = check(&repo());
    let (on_copy, copy_output) = check(dir.path());
    assert_eq!(
        on_copy, on_repo,
        "the copy:\n{copy_output}\nthe repository:\n{repo_output}"
    );
    assert_eq!(
        on_copy,
        Some(0),
        "the tree breaks the layering:\n{copy_output}"
    );
}

#[test]
fn a_core_module_naming_app_fails() {
    let dir = copy();
    plant_at_top(dir.path(), "src/clock.rs", "use crate::app::App;");
    assert_fails_naming(dir.path(), &["src/clock.rs"]);
}

#[test]
fn an_engine_module_naming_an_adapter_fails() {
    let dir = copy();
    plant_at_top(dir.path(), "src/engine/sync.rs", "use crate::webhooks;");
    assert_fails_naming(dir.path(), &["src/engine/sync.rs"]);
}

#[test]
fn a_shared_domain_module_naming_app_fails() {
    let dir = copy();
    plant_at_top(dir.path(), "src/customer/gates.rs", "use crate::app::App;");
    assert_fails_naming(dir.path(), &["src/customer/gates.rs"]);
}

#[test]
fn an_edge_naming_another_edge_fails() {
    let dir = copy();
    plant_at_top(
        dir.path(),
        "src/admin/mod.rs",
        "use crate::bot::teams_worker;",
    );
    assert_fails_naming(dir.path(), &["src/admin/mod.rs"]);
}

/// The first entry of lib.rs's list of imports that run up a layer, taken out: the import it
/// allowed is reported. (With the list empty, an unlisted upward import is planted instead.)
#[test]
fn an_upward_import_off_the_list_fails() {
    let dir = copy();
    let lib = fs::read_to_string(dir.path().join("src/lib.rs")).expect("read lib.rs");
    let lines: Vec<&str> = lib.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("//!") && l.contains("Imports that run up a layer"))
        .expect("lib.rs lists the imports that run up a layer");
    let entry = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("//! - `src/"))
        .map(|i| start + 1 + i);
    let Some(entry) = entry else {
        plant_at_top(dir.path(), "src/clock.rs", "use crate::store::AsPool;");
        assert_fails_naming(dir.path(), &["src/clock.rs"]);
        return;
    };
    let file = lines[entry]["//! - `".len()..]
        .split('`')
        .next()
        .expect("the entry's file")
        .to_owned();
    // The entry and its reason's continuation lines.
    let end = lines[entry + 1..]
        .iter()
        .position(|l| !l.starts_with("//!   "))
        .map_or(lines.len(), |i| entry + 1 + i);
    let mut kept: Vec<&str> = lines[..entry].to_vec();
    kept.extend_from_slice(&lines[end..]);
    fs::write(dir.path().join("src/lib.rs"), kept.join("\n") + "\n").expect("write lib.rs");
    assert_fails_naming(dir.path(), &[&file]);
}

/// An upward import no rule forbids passes once lib.rs lists it with its reason.
#[test]
fn an_upward_import_listed_with_its_reason_passes() {
    let dir = copy();
    plant_at_top(dir.path(), "src/clock.rs", "use crate::store::AsPool;");
    edit(dir.path(), "src/lib.rs", |text| {
        text.replacen(
            "//! Imports that run up a layer (`.ci/check-imports` allows these and no others):\n",
            "//! Imports that run up a layer (`.ci/check-imports` allows these and no others):\n\
             //! - `src/clock.rs` → [`store`]: planted, and listed\n",
            1,
        )
    });
    let (code, output) = check(dir.path());
    assert_eq!(
        code,
        Some(0),
        "a listed upward import should pass:\n{output}"
    );
}

#[test]
fn a_listed_import_that_does_not_exist_fails() {
    let dir = copy();
    edit(dir.path(), "src/lib.rs", |text| {
        text.replacen(
            "//! Imports that run up a layer (`.ci/check-imports` allows these and no others):\n",
            "//! Imports that run up a layer (`.ci/check-imports` allows these and no others):\n\
             //! - `src/clock.rs` → [`store`]: planted, the clock names no store\n",
            1,
        )
    });
    assert_fails_naming(dir.path(), &["src/lib.rs", "src/clock.rs"]);
}

#[test]
fn a_module_without_a_row_in_the_map_fails() {
    let dir = copy();
    edit(dir.path(), "src/lib.rs", |text| {
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !(l.starts_with("//! |") && l.contains("[`clock`]")))
            .collect();
        assert!(
            kept.len() < text.lines().count(),
            "the map has a row for clock"
        );
        kept.join("\n") + "\n"
    });
    assert_fails_naming(dir.path(), &["src/lib.rs", "`clock`"]);
}
