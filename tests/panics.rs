//! A panic anywhere ends the process with a non-zero status, so that a
//! supervisor restarts it (a task that died must not leave a host limping on,
//! nor one that exits 0 as if it had been stopped).

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_runtime_task_ends_the_process_with_status_101() {
    let sandbox = start_sandbox().await;
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::new(&sandbox, &[&ch]);
    // Debug builds panic in a task after this many ms when asked to.
    let mut host = svc.run_host_with_env(&[("MOOBIUS_HOST_PANIC_IN_TASK", "300")]);
    let status = wait_for("the host exits after the panic", || {
        let exited = host.child.try_wait().ok().flatten();
        async move { exited }
    })
    .await;
    assert_eq!(status.code(), Some(101), "{}", host.log());
    let log = host.log();
    assert!(log.contains("a test asked for a panic in a task"), "{log}");
    assert!(log.contains("stopping with status 101"), "{log}");
    host.kill();
    sandbox.shutdown().await;
}
