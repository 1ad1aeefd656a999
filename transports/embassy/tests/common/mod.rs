//! What the TAP tests share: a private network namespace with a TAP device
//! (the host kernel's side at [`HOST_IP`]), and an embassy-net stack on it.

use std::process::Stdio;

use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;

/// The host kernel's address on tap0 (the embassy stack is 192.168.69.1).
pub const HOST_IP: &str = "192.168.69.100";

/// Set inside the namespace: run the test's body.
const INNER: &str = "NANOSP_TAP_INNER";

pub fn leak<T>(t: T) -> &'static mut T {
    Box::leak(Box::new(t))
}

/// Runs `body` inside a network namespace made for it (`unshare -n`) with
/// tap0 up at [`HOST_IP`]/24: the test binary runs itself again there,
/// test `name` alone. Needs root, `unshare`, `ip` and the `tools` given;
/// without one it says so loudly and returns (the test is skipped).
pub fn in_tap_namespace(name: &str, tools: &[&str], body: fn()) {
    if std::env::var_os(INNER).is_some() {
        return body();
    }
    let have = |c: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for tool in ["unshare", "ip"].iter().chain(tools) {
        if !have(tool) {
            eprintln!("\n*** SKIPPED {name}: `{tool}` is not installed ***\n");
            return;
        }
    }
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("\n*** SKIPPED {name}: cannot create a network namespace (not root?) ***\n");
        return;
    }
    let script = format!(
        "ip link set lo up && ip tuntap add dev tap0 mode tap && \
         ip addr add {HOST_IP}/24 dev tap0 && ip link set tap0 up && \
         {INNER}=1 exec \"$0\" --exact {name} --nocapture --test-threads=1"
    );
    let st = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .arg(std::env::current_exe().unwrap())
        .status()
        .expect("run unshare");
    assert!(st.success(), "{name} failed inside its namespace");
}

/// An embassy-net stack on tap0 at 192.168.69.1/24; run the runner.
pub fn tap_stack() -> (Stack<'static>, Runner<'static, TunTapDevice>) {
    let dev = TunTapDevice::new("tap0").expect("open tap0");
    let cfg = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    embassy_net::new(dev, cfg, leak(StackResources::<8>::new()), 7)
}

/// Runs `body` on a current-thread tokio runtime (for the host processes it
/// starts) beside an embassy-net stack on tap0 and its runner; fails when
/// `body` takes longer than `secs` seconds.
pub fn on_tap<F: std::future::Future<Output = ()>>(
    secs: u64,
    body: impl FnOnce(Stack<'static>) -> F,
) {
    use embassy_futures::select::{select, Either};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (stack, mut runner) = tap_stack();
        let r = embassy_time::with_timeout(
            embassy_time::Duration::from_secs(secs),
            select(runner.run(), body(stack)),
        )
        .await;
        match r {
            Ok(Either::Second(())) => {}
            Ok(Either::First(_)) => unreachable!(),
            Err(_) => panic!("TAP test timed out after {secs} s"),
        }
    });
}
