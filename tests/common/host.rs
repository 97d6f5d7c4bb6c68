//! A host binary of an example run as a child process: its stdout read
//! line by line on a thread, its log in a file; killed if the test fails
//! before it ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// How long a line may take before the test fails, showing the log.
const WAIT: Duration = Duration::from_secs(60);

pub struct Host {
    pub child: Child,
    pub lines: Receiver<String>,
    pub log: PathBuf,
}

impl Host {
    /// Starts `cmd`, its stdout piped here and its stderr into `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Host {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the host starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Host { child, lines, log }
    }

    /// The next line it printed; fails the test, with the log, if none
    /// comes.
    pub fn next_line(&self) -> String {
        self.lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!(
                "no output from the host; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }

    /// Sends it `signal` (`-HUP`, `-TERM`, …) with `kill`.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {signal} failed");
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Only does something if the test failed before the host ended.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
