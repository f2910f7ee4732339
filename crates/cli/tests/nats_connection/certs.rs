//! A certificate authority made for one test, and the server and client certificates it signs.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// PEM files in a temporary directory: the CA, a server certificate for `127.0.0.1` and
/// `localhost`, and a client certificate.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name.push(DnType::CommonName, "natsapi test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");

        let signed = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(names).expect("params");
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca).expect("signed");
            (cert.pem(), key.serialize_pem())
        };
        let server_names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let (server_cert, server_key) = signed(server_names, ExtendedKeyUsagePurpose::ServerAuth);
        let client_names = vec!["natsapi".to_owned()];
        let (client_cert, client_key) = signed(client_names, ExtendedKeyUsagePurpose::ClientAuth);

        let ca = super::write(&dir, "ca.pem", &ca.pem());
        Pki {
            ca,
            server_cert: super::write(&dir, "server.pem", &server_cert),
            server_key: super::write(&dir, "server-key.pem", &server_key),
            client_cert: super::write(&dir, "client.pem", &client_cert),
            client_key: super::write(&dir, "client-key.pem", &client_key),
            _dir: dir,
        }
    }

    /// The nats-server `tls` block serving the server certificate, with `extra` lines.
    pub fn server_tls(&self, extra: &str) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n{extra}}}\n",
            self.server_cert, self.server_key
        )
    }
}
