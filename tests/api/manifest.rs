//! `switchboard manifest` as an admin runs it: the zip unpacked, the manifest validated
//! against the vendored official schema, the icons' sizes read from their PNG headers; bad
//! input names the JSON path and writes nothing.

use std::io::Read;

use serde_json::Value;

use crate::helpers::switchboard as run;

const APP_ID: &str = "0b6e1f7a-4c2d-4e8f-9a1b-2c3d4e5f6a7b";

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn the_app_package_is_a_valid_manifest_with_both_icons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &[
            "manifest",
            "--app-id",
            APP_ID,
            "--domain",
            "https://chat.contoso.example/",
            "--developer",
            "Contoso",
            "--out",
            "app.zip",
        ],
    );
    assert!(out.status.success(), "{out:?}");

    let file = std::fs::File::open(dir.path().join("app.zip")).expect("zip written");
    let mut zip = zip::ZipArchive::new(file).expect("a zip");
    let mut names: Vec<String> = zip
        .file_names()
        .map(|n| n.expect("name").into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);
    let mut read = |name: &str| {
        let mut bytes = Vec::new();
        zip.by_name(name)
            .expect("entry")
            .read_to_end(&mut bytes)
            .expect("read");
        bytes
    };
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).expect("json");
    assert_eq!(png_size(&read("color.png")), (192, 192));
    assert_eq!(png_size(&read("outline.png")), (32, 32));

    let schema: Value = serde_json::from_str(include_str!(
        "../../manifest/schema/MicrosoftTeams.v1.22.schema.json"
    ))
    .expect("schema");
    let validator = jsonschema::draft4::new(&schema).expect("draft-04 schema");
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    assert_eq!(manifest["manifestVersion"], "1.22");
    assert_eq!(manifest["id"], APP_ID);
    assert_eq!(manifest["developer"]["name"], "Contoso");
    let bot = &manifest["bots"][0];
    assert_eq!(bot["botId"], APP_ID);
    assert_eq!(bot["scopes"], serde_json::json!(["personal", "groupChat"]));
    let commands = |scope: &str| -> Vec<String> {
        bot["commandLists"]
            .as_array()
            .expect("lists")
            .iter()
            .find(|l| l["scopes"][0] == scope)
            .expect("list")["commands"]
            .as_array()
            .expect("commands")
            .iter()
            .map(|c| c["title"].as_str().expect("title").to_owned())
            .collect()
    };
    assert_eq!(
        commands("personal"),
        ["status", "available", "away", "back", "help"]
    );
    assert_eq!(commands("groupChat"), ["end", "canned"]);
    // The canned answers' message extension is the bot's, with its search parameter.
    let extension = &manifest["composeExtensions"][0];
    assert_eq!(extension["botId"], APP_ID);
    assert_eq!(extension["commands"][0]["id"], "cannedAnswers");
    assert_eq!(extension["commands"][0]["type"], "query");
    assert_eq!(extension["commands"][0]["parameters"][0]["name"], "search");
    // "My Sessions", a personal tab on the service's own host.
    assert_eq!(manifest["staticTabs"][0]["entityId"], "my-sessions");
    assert_eq!(
        manifest["staticTabs"][0]["contentUrl"],
        "https://chat.contoso.example/tabs/my-sessions"
    );
    assert_eq!(
        manifest["validDomains"],
        serde_json::json!(["chat.contoso.example"])
    );
    assert_eq!(manifest["webApplicationInfo"]["id"], APP_ID);
    assert_eq!(
        manifest["authorization"]["permissions"]["resourceSpecific"][0],
        serde_json::json!({"name": "ChatMessage.Read.Chat", "type": "Application"})
    );
}

#[test]
fn bad_input_names_the_json_path_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &[
            "manifest",
            "--app-id",
            "my-bot",
            "--domain",
            "chat.contoso.example",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert!(err.contains("/bots/0/botId: "), "{err}");
    assert!(err.contains("/webApplicationInfo/id: "), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!dir.path().join("switchboard.zip").exists());

    let out = run(
        dir.path(),
        &["manifest", "--app-id", APP_ID, "--domain", "not a host"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--domain"));
    let out = run(dir.path(), &["manifest"]);
    assert!(!out.status.success(), "no app id or domain configured");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--app-id"));
}
