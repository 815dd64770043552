//! `mtproto-localdc`: runs a local MTProto data center until killed.
//!
//! The first line on stdout is `listening on IP:PORT`, so a harness in any
//! language can start it with `--listen 127.0.0.1:0` and read the port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mtproto::crypto::RsaPrivateKey;
use mtproto::mtp::server::Faults;
use mtproto::transport::MtProxySecret;
use mtproto_localdc::LocalDc;

const USAGE: &str = "\
usage: mtproto-localdc --rsa-key PATH [options]

  --listen ADDR            address to listen on (default 127.0.0.1:0)
  --rsa-key PATH           PKCS#1 PEM private key; a 2048-bit key is created there if absent
  --public-key-out PATH    write the public key (PKCS#1 PEM, BEGIN RSA PUBLIC KEY) here
  --dc-id N                DC id expected in the key exchange (default 2; 10000+N for a test DC)
  --salt-lifetime SECS     lifetime of each server salt (default 1800)
  --clock-offset SECS      shift the server clock (may be negative)
  --bad-salt N             answer the first N client messages with bad_server_salt
  --bad-msg CODE:N         answer the first N client messages with bad_msg_notification CODE
  --drop-after-bytes N     cut each connection after it has written N bytes
  --drop-after-read-bytes N  cut each connection after it has read N bytes from its client
  --mtproxy-secret HEX     act as an MTProxy endpoint with this secret (obfuscation required)
  --key-db PATH            persist permanent auth keys in this SQLite file (default: RAM only)
  --help                   print this text

Prints `listening on IP:PORT` as its first line, then serves until SIGTERM or Ctrl-C.";

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    rsa_key: PathBuf,
    public_key_out: Option<PathBuf>,
    dc_id: i32,
    salt_lifetime: u64,
    clock_offset: i64,
    faults: Faults,
    drop_after_bytes: Option<u64>,
    drop_after_read_bytes: Option<u64>,
    mtproxy_secret: Option<MtProxySecret>,
    key_db: Option<PathBuf>,
}

fn parse_args(raw: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut rsa_key = None;
    let mut public_key_out = None;
    let mut dc_id = 2;
    let mut salt_lifetime = mtproto_localdc::SALT_PERIOD_SECS as u64;
    let mut clock_offset = 0;
    let mut faults = Faults::default();
    let mut drop_after_bytes = None;
    let mut drop_after_read_bytes = None;
    let mut mtproxy_secret = None;
    let mut key_db = None;
    let mut raw = raw.peekable();
    while let Some(arg) = raw.next() {
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| raw.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: `{v}` is not a valid number"))
        }
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen: `{v}` is not IP:PORT"))?;
            }
            "--rsa-key" => rsa_key = Some(PathBuf::from(value()?)),
            "--public-key-out" => public_key_out = Some(PathBuf::from(value()?)),
            "--dc-id" => dc_id = num(&flag, &value()?)?,
            "--salt-lifetime" => salt_lifetime = num(&flag, &value()?)?,
            "--clock-offset" => clock_offset = num(&flag, &value()?)?,
            "--bad-salt" => faults.force_bad_salt = num(&flag, &value()?)?,
            "--bad-msg" => {
                let v = value()?;
                let (code, n) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--bad-msg: `{v}` is not CODE:N"))?;
                let (code, n): (i32, u32) = (num(&flag, code)?, num(&flag, n)?);
                faults.force_bad_msg = (n > 0).then_some((code, n));
            }
            "--drop-after-bytes" => drop_after_bytes = Some(num(&flag, &value()?)?),
            "--drop-after-read-bytes" => drop_after_read_bytes = Some(num(&flag, &value()?)?),
            "--mtproxy-secret" => {
                let v = value()?;
                let s =
                    MtProxySecret::from_hex(&v).map_err(|e| format!("--mtproxy-secret: {e}"))?;
                mtproxy_secret = Some(s);
            }
            "--key-db" => key_db = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let rsa_key = rsa_key.ok_or("--rsa-key is required")?;
    if salt_lifetime == 0 {
        return Err("--salt-lifetime must be at least 1".into());
    }
    Ok(Some(Args {
        listen,
        rsa_key,
        public_key_out,
        dc_id,
        salt_lifetime,
        clock_offset,
        faults,
        drop_after_bytes,
        drop_after_read_bytes,
        mtproxy_secret,
        key_db,
    }))
}

/// Reads the key at `path`, or creates one there (owner-only permissions).
fn load_or_create_key(path: &PathBuf) -> Result<RsaPrivateKey, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => RsaPrivateKey::from_pkcs1_pem(&text)
            .map_err(|e| format!("{}: not a PKCS#1 RSA private key: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = RsaPrivateKey::generate(2048, &mut rand::thread_rng())
                .map_err(|e| format!("generating an RSA key: {e}"))?;
            write_private(path, key.to_pkcs1_pem().as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write_private(path: &PathBuf, data: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mtproto-localdc: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtproto-localdc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let key = load_or_create_key(&args.rsa_key)?;
    if let Some(out) = &args.public_key_out {
        std::fs::write(out, key.public().to_pkcs1_pem())
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async {
        let mut builder = LocalDc::builder()
            .listen(args.listen)
            .rsa_key(key)
            .dc_id(args.dc_id)
            .salt_lifetime(Duration::from_secs(args.salt_lifetime))
            .clock_offset_secs(args.clock_offset)
            .faults(args.faults);
        if let Some(n) = args.drop_after_bytes {
            builder = builder.drop_after_bytes(n);
        }
        if let Some(n) = args.drop_after_read_bytes {
            builder = builder.drop_after_read_bytes(n);
        }
        if let Some(path) = args.key_db {
            builder = builder.key_db(path);
        }
        if let Some(s) = args.mtproxy_secret {
            builder = builder.mtproxy_secret(s);
        }
        let dc = builder
            .spawn()
            .await
            .map_err(|e| format!("listen on {}: {e}", args.listen))?;
        {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "listening on {}", dc.addr());
            let _ = writeln!(
                stdout,
                "dc {} key fingerprint {:#018x}",
                dc.dc_id(),
                dc.public_key().fingerprint() as u64
            );
            let _ = stdout.flush();
        }
        wait_for_signal().await;
        dc.shutdown();
        Ok(())
    })
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_every_option() {
        let a = parse(&[
            "--listen",
            "127.0.0.1:4430",
            "--rsa-key=/tmp/k.pem",
            "--public-key-out",
            "/tmp/p.pem",
            "--dc-id",
            "10002",
            "--salt-lifetime",
            "60",
            "--clock-offset",
            "-120",
            "--bad-salt",
            "2",
            "--bad-msg",
            "16:3",
            "--drop-after-bytes",
            "1000",
            "--mtproxy-secret",
            "dd00112233445566778899aabbccddeeff",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.listen, "127.0.0.1:4430".parse().unwrap());
        assert_eq!(a.rsa_key, PathBuf::from("/tmp/k.pem"));
        assert_eq!(a.public_key_out, Some(PathBuf::from("/tmp/p.pem")));
        assert_eq!(
            (a.dc_id, a.salt_lifetime, a.clock_offset),
            (10002, 60, -120)
        );
        assert_eq!(a.faults.force_bad_salt, 2);
        assert_eq!(a.faults.force_bad_msg, Some((16, 3)));
        assert_eq!(a.drop_after_bytes, Some(1000));
        assert!(a.mtproxy_secret.unwrap().wants_padding());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&[]).is_err(), "--rsa-key is required");
        assert!(parse(&["--rsa-key", "k", "--dc-id", "two"]).is_err());
        assert!(parse(&["--rsa-key", "k", "--bad-msg", "16"]).is_err());
        assert!(parse(&["--rsa-key", "k", "--listen", "nowhere"]).is_err());
        assert!(parse(&["--rsa-key", "k", "--bogus"]).is_err());
        assert!(parse(&["--rsa-key"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
