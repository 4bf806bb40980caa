use super::*;
use secrecy::ExposeSecret;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn no_configuration_means_anonymous_dev_mode_on_loopback() {
    let s = Settings::load(None, &env(&[])).expect("defaults load");
    assert!(s.is_anonymous());
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:3978");
    assert_eq!(s.store.url, "sqlite://switchboard.db");
    assert_eq!(
        s.bot.openid_metadata_url.as_str(),
        DEFAULT_OPENID_METADATA_URL
    );
}

#[test]
fn anonymous_mode_is_refused_on_a_public_bind_address() {
    let err = Settings::load(None, &env(&[("SWITCHBOARD_SERVER__BIND", "0.0.0.0:3978")]))
        .expect_err("must refuse");
    assert!(format!("{err:#}").contains("anonymous dev mode"), "{err:#}");
}

#[test]
fn sdk_variables_configure_the_bot() {
    let s = Settings::load(
        None,
        &env(&[
            ("MicrosoftAppId", "app-1"),
            ("MicrosoftAppPassword", "s3cret"),
            ("MicrosoftAppType", "SingleTenant"),
            ("MicrosoftAppTenantId", "tenant-1"),
        ]),
    )
    .expect("loads");
    let BotAuth::Credentials(c) = &s.bot.auth else {
        panic!("expected credentials")
    };
    assert_eq!(c.app_id, "app-1");
    assert_eq!(c.app_password.expose_secret(), "s3cret");
    assert_eq!(c.app_type, AppType::SingleTenant);
    assert_eq!(
        c.token_url.as_str(),
        "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    );
}

#[test]
fn switchboard_variables_win_over_sdk_variables_and_nest_with_double_underscore() {
    let s = Settings::load(
        None,
        &env(&[
            ("MicrosoftAppId", "from-sdk"),
            ("MicrosoftAppPassword", "pw"),
            ("SWITCHBOARD_BOT__APP_ID", "from-switchboard"),
            (
                "SWITCHBOARD_BOT__OPENID_METADATA_URL",
                "http://127.0.0.1:9/meta",
            ),
            ("SWITCHBOARD_BOT__ALLOWED_TENANTS", "T1, t2"),
            (
                "SWITCHBOARD_BOT__ALLOWED_SERVICE_URLS",
                "http://127.0.0.1:*",
            ),
        ]),
    )
    .expect("loads");
    assert_eq!(s.bot.app_id(), Some("from-switchboard"));
    assert_eq!(
        s.bot.openid_metadata_url.as_str(),
        "http://127.0.0.1:9/meta"
    );
    assert_eq!(s.bot.allowed_tenants, vec!["t1", "t2"]);
    assert!(
        s.bot
            .allowed_service_urls
            .allows_str("http://127.0.0.1:4000/")
    );
    assert!(
        !s.bot
            .allowed_service_urls
            .allows_str("https://smba.trafficmanager.net/amer/")
    );
}

#[test]
fn a_toml_file_sits_between_defaults_and_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("switchboard.toml");
    std::fs::write(
        &path,
        "[server]\nbind = \"127.0.0.1:4000\"\n[store]\nurl = \"sqlite://x.db\"\n",
    )
    .expect("write");
    let s = Settings::load(
        Some((&path, true)),
        &env(&[("SWITCHBOARD_STORE__URL", "sqlite://y.db")]),
    )
    .expect("loads");
    assert_eq!(s.server.bind.port(), 4000);
    assert_eq!(s.store.url, "sqlite://y.db");
}

#[test]
fn single_tenant_without_tenant_id_fails_with_the_key_named() {
    let err = Settings::load(
        None,
        &env(&[
            ("SWITCHBOARD_BOT__APP_ID", "a"),
            ("SWITCHBOARD_BOT__APP_PASSWORD", "p"),
            ("SWITCHBOARD_BOT__APP_TYPE", "SingleTenant"),
        ]),
    )
    .expect_err("must fail");
    assert!(format!("{err:#}").contains("bot.tenant_id"), "{err:#}");
}

#[test]
fn an_app_id_without_a_password_fails_at_boot() {
    let err =
        Settings::load(None, &env(&[("SWITCHBOARD_BOT__APP_ID", "a")])).expect_err("must fail");
    assert!(format!("{err:#}").contains("bot.app_password"), "{err:#}");
}

#[test]
fn a_bad_url_fails_at_boot() {
    let err = Settings::load(None, &env(&[("SWITCHBOARD_GRAPH__BASE_URL", "not a url")]))
        .expect_err("must fail");
    assert!(format!("{err:#}").contains("graph.base_url"), "{err:#}");
}

#[test]
fn whatsapp_settings_come_from_the_environment_and_blank_secrets_are_unset() {
    let s = Settings::load(None, &env(&[])).expect("defaults load");
    assert!(s.whatsapp.app_secret.is_none() && s.whatsapp.verify_token.is_none());
    assert_eq!(
        s.whatsapp.graph_base_url.as_str(),
        DEFAULT_WHATSAPP_GRAPH_BASE_URL
    );
    let s = Settings::load(
        None,
        &env(&[
            ("SWITCHBOARD_WHATSAPP__APP_SECRET", "app-secret"),
            ("SWITCHBOARD_WHATSAPP__VERIFY_TOKEN", "  "),
            (
                "SWITCHBOARD_WHATSAPP__GRAPH_BASE_URL",
                "http://127.0.0.1:9/v24.0",
            ),
        ]),
    )
    .expect("loads");
    assert_eq!(
        s.whatsapp.app_secret.as_ref().map(|t| t.expose_secret()),
        Some("app-secret")
    );
    assert!(
        s.whatsapp.verify_token.is_none(),
        "a blank token is no token"
    );
    assert_eq!(
        s.whatsapp.graph_base_url.as_str(),
        "http://127.0.0.1:9/v24.0"
    );
    let err = Settings::load(
        None,
        &env(&[("SWITCHBOARD_WHATSAPP__GRAPH_BASE_URL", "not a url")]),
    )
    .expect_err("must refuse");
    assert!(
        format!("{err:#}").contains("whatsapp.graph_base_url"),
        "{err:#}"
    );
}

/// Typos and values out of range stop the service with the key named, never pass silently
/// (issue 17, item 8).
#[test]
fn a_typo_or_a_value_out_of_range_is_refused_with_its_key_named() {
    let refused = |pairs: &[(&str, &str)]| {
        format!(
            "{:#}",
            Settings::load(None, &env(pairs)).expect_err("refused")
        )
    };
    for (pairs, said) in [
        (
            &[("SWITCHBOARD_SERVER__PORT", "3978")][..],
            "unknown setting `server.port`",
        ),
        (
            &[("SWITCHBOARD_SEVER__BIND", "127.0.0.1:1")],
            "did you mean `server`?",
        ),
        (
            &[("SWITCHBOARD_SERVER_BIND", "127.0.0.1:1")],
            "SWITCHBOARD_SERVER__BIND",
        ),
        (
            &[("SWITCHBOARD_PREFERENCES__SESSION_HOURS", "0")],
            "preferences.session_hours must be 1 to 720, not 0",
        ),
        (&[("SWITCHBOARD_LOG__FILTER", "info,[")], "log.filter"),
        (
            &[("SWITCHBOARD_LOG__FORMAT", "yaml")],
            "log.format must be one of text, json, not \"yaml\"",
        ),
        (
            &[("SWITCHBOARD_STORE__URL", "mysql://u:secret@db/switchboard")],
            "store.url is not supported: it must start with sqlite:",
        ),
        (
            &[("SWITCHBOARD_INTERACT__INACTIVITY_SECS", "5")],
            "interact.inactivity_secs must be at least 60",
        ),
    ] {
        let error = refused(pairs);
        assert!(error.contains(said), "{pairs:?}: {error}");
    }
    let dir = tempfile::tempdir().expect("dir");
    for (file, said) in [
        (
            "[server]\nbnd = \"127.0.0.1:1\"\n",
            "did you mean `server.bind`?",
        ),
        (
            "[sever]\nbind = \"127.0.0.1:1\"\n",
            "did you mean `server`?",
        ),
    ] {
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, file).expect("write");
        let error = format!(
            "{:#}",
            Settings::load(Some((&path, true)), &env(&[])).expect_err("refused")
        );
        assert!(error.contains(said), "{file}: {error}");
    }
    // Variables of the prefix that are not settings (test knobs) are not ours to refuse.
    Settings::load(None, &env(&[("SWITCHBOARD_FUZZ_CASES", "10")])).expect("not a setting");
}

#[test]
fn file_types_are_a_checked_subset_of_what_switchboard_can_check() {
    let s = Settings::load(None, &env(&[])).expect("defaults load");
    assert_eq!(s.interact.file_types, super::FILE_TYPES.to_vec());
    let s = Settings::load(
        None,
        &env(&[(
            "SWITCHBOARD_INTERACT__FILE_TYPES",
            "application/PDF, image/png",
        )]),
    )
    .expect("two types");
    assert_eq!(s.interact.file_types, ["application/pdf", "image/png"]);
    let err = Settings::load(
        None,
        &env(&[(
            "SWITCHBOARD_INTERACT__FILE_TYPES",
            "application/pdf,application/x-msdownload",
        )]),
    )
    .expect_err("an unchecked type");
    let message = format!("{err:#}");
    assert!(
        message.contains("interact.file_types: \"application/x-msdownload\" is not a type"),
        "{message}"
    );
}
