//! The harness itself on a real boot: exit status, stdout/stderr, the scratch share, the
//! IPVS modules, and keepalived building its table inside the guest.

use std::time::Duration;

#[test]
fn boots_runs_ipvsadm_and_keepalived() {
    let Some(vm) = rka_vmtest::require_vm() else {
        return;
    };
    let scratch = std::env::temp_dir().join(format!("rka-vmtest-scratch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    std::fs::write(scratch.join("in.txt"), "from host\n").expect("write input");
    let conf = scratch.join("keepalived.conf");
    std::fs::write(
        &conf,
        "global_defs {\n  router_id vmtest\n}\n\
         virtual_server 10.0.0.1 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
         real_server 10.0.0.2 80 {\n    weight 3\n  }\n}\n\
         virtual_server fwmark 7 {\n  lb_algo sh\n  lb_kind DR\n\
         real_server 10.0.0.4 0 {\n    weight 2\n  }\n}\n",
    )
    .expect("write config");
    let dir = scratch.display();
    let cmd = format!(
        "set -e; cat {dir}/in.txt; echo to-stderr >&2; echo from guest > {dir}/out.txt
ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -m && ipvsadm -S -n
echo ==
ipvsadm -C
keepalived -n -D -f {dir}/keepalived.conf -p /run/k.pid -c /run/c.pid -r /run/v.pid &
for i in 1 2 3 4 5 6 7 8 9 10; do ipvsadm -S -n | grep -q -- '-f 7' && break; sleep 1; done
ipvsadm -S -n
kill $!
exit 3"
    );
    let out = vm
        .with_scratch(&scratch)
        .with_timeout(Duration::from_secs(240))
        .run(&cmd)
        .expect("VM run");
    let guest_file = std::fs::read_to_string(scratch.join("out.txt")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("boot and command took {:?}", out.elapsed);
    assert_eq!(
        out.status, 3,
        "stdout:\n{}\nstderr:\n{}\nconsole:\n{}",
        out.stdout, out.stderr, out.console
    );
    assert_eq!(out.stderr, "to-stderr\n");
    assert_eq!(guest_file, "from guest\n");
    let (manual, keepalived) = out.stdout.split_once("==\n").expect("marker");
    assert_eq!(
        manual,
        "from host\n-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n"
    );
    let mut lines: Vec<&str> = keepalived.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "-A -f 7 -s sh",
            "-A -t 10.0.0.1:80 -s wrr",
            "-a -f 7 -r 10.0.0.4:0 -g -w 2",
            "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 3",
        ]
    );
}
