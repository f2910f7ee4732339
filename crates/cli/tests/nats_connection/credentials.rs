//! Authentication: a credentials file (operator mode, JWTs signed in the test), an NKey seed, a
//! token and a user and password in the URL.

use nats_jwt::{KeyPair, Token};
use natsapi_testkit::NatsServer;

use super::{assert_answers, assert_refused, assert_serve_refused, natsapi, serve, serve_with};

/// A `.creds` file's text: the user JWT and the user's seed between their marker lines.
fn creds(jwt: &str, user: &KeyPair) -> String {
    let seed = user.seed().expect("seed");
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

/// An account signed by `operator` and the creds file of a user it signs.
fn account_user(operator: &KeyPair, name: &str) -> (String, String, String) {
    let account = KeyPair::new_account();
    let account_jwt = Token::new_account(account.public_key()).name(name).sign(operator);
    let user = KeyPair::new_user();
    let user_jwt =
        Token::new_user(account.public_key(), user.public_key()).name("natsapi").sign(&account);
    (account.public_key(), account_jwt, creds(&user_jwt, &user))
}

#[test]
fn a_credentials_file_authenticates_in_operator_mode() {
    let operator = KeyPair::new_operator();
    let (account, account_jwt, user_creds) = account_user(&operator, "APP");
    let nats = NatsServer::builder()
        .jetstream(false)
        .config_line(format!(
            "trusted_keys: [\"{}\"]\nresolver: MEMORY\nresolver_preload: {{\n  {account}: \"{account_jwt}\"\n}}",
            operator.public_key()
        ))
        .start()
        .expect("nats-server in operator mode");
    let dir = tempfile::tempdir().unwrap();
    let creds = super::write(&dir, "natsapi.creds", &user_creds);
    let url = nats.url();

    let _server = serve(&url, &["--api-nats-credentials", &creds]);
    assert_answers(&url, &["--api-nats-credentials", &creds]);

    assert_refused(&url, &[], "authorization violation");
    // A user of an account the server does not know.
    let (_, _, stranger) = account_user(&KeyPair::new_operator(), "OTHER");
    let stranger = super::write(&dir, "stranger.creds", &stranger);
    assert_refused(&url, &["--api-nats-credentials", &stranger], "authorization violation");
    assert_serve_refused(&url, &["--api-nats-credentials", &stranger], "authorization violation");
}

#[test]
fn an_nkey_seed_authenticates() {
    let user = KeyPair::new_user();
    let nats = NatsServer::builder()
        .jetstream(false)
        .config_line(format!("authorization {{\n  users: [{{nkey: {}}}]\n}}", user.public_key()))
        .start()
        .expect("nats-server with an NKey user");
    let dir = tempfile::tempdir().unwrap();
    let seed = super::write(&dir, "natsapi.nk", &format!("{}\n", user.seed().unwrap()));
    let url = nats.url();

    let _server = serve(&url, &["--api-nats-nkey", &seed]);
    assert_answers(&url, &["--api-nats-nkey", &seed]);

    assert_refused(&url, &[], "authorization violation");
    let other = super::write(&dir, "other.nk", &KeyPair::new_user().seed().unwrap());
    assert_refused(&url, &["--api-nats-nkey", &other], "authorization violation");
    assert_serve_refused(&url, &["--api-nats-nkey", &other], "authorization violation");
}

#[test]
fn a_token_authenticates_from_the_environment_a_flag_or_a_file() {
    let nats = NatsServer::builder()
        .jetstream(false)
        .config_line("authorization {\n  token: \"s3cr3t-token\"\n}")
        .start()
        .expect("nats-server with a token");
    let dir = tempfile::tempdir().unwrap();
    let token_file = super::write(&dir, "token", "s3cr3t-token\n");
    let url = nats.url();

    let mut with_variable = natsapi();
    with_variable.env("NATSAPI_API_NATS_TOKEN", "s3cr3t-token");
    let _server = serve_with(with_variable, &url, &[]);
    assert_answers(&url, &["--api-nats-token-file", &token_file]);
    assert_answers(&url, &["--api-nats-token", "s3cr3t-token"]);

    assert_refused(&url, &[], "authorization violation");
    let stderr = assert_refused(&url, &["--api-nats-token", "wrong"], "authorization violation");
    assert!(!stderr.contains("wrong"), "the token is not printed: {stderr}");
    assert_serve_refused(&url, &["--api-nats-token", "wrong"], "authorization violation");
}

#[test]
fn a_user_and_password_in_the_url_authenticate() {
    let nats = NatsServer::builder()
        .jetstream(false)
        .config_line("authorization {\n  user: app\n  password: \"pa55word\"\n}")
        .start()
        .expect("nats-server with a user and password");
    let url = format!("nats://app:pa55word@127.0.0.1:{}", nats.port());

    let _server = serve(&url, &[]);
    assert_answers(&url, &[]);

    assert_refused(&nats.url(), &[], "authorization violation");
    let wrong = format!("nats://app:guess3d@127.0.0.1:{}", nats.port());
    let stderr = assert_refused(&wrong, &[], "authorization violation");
    assert!(stderr.contains("nats://app:***@127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("guess3d"), "the password is not printed: {stderr}");
    assert_serve_refused(&wrong, &[], "authorization violation");
}

#[test]
fn the_bench_and_every_process_it_starts_connect_with_the_options() {
    let nats = NatsServer::builder()
        .jetstream(true)
        .config_line("authorization {\n  token: \"s3cr3t-token\"\n}")
        .start()
        .expect("nats-server with a token");
    let small = ["--requests", "100", "--warmup", "10", "--rounds", "1", "--batch-lines", "10"];
    for suite in ["api", "ingest"] {
        let output = natsapi()
            .args(["bench", "--suite", suite, "--server", &nats.url()])
            .args(["--api-nats-token", "s3cr3t-token"])
            .args(small)
            .output()
            .expect("natsapi bench runs");
        assert!(output.status.success(), "{suite}: {}", super::describe(&output));
    }
    // The bench's own nats-server has no authentication: the options need --server.
    let output = natsapi().args(["bench", "--api-nats-token", "t"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("need --server"), "{stderr}");
}
