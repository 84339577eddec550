import Foundation

// capsule-bench's memory baseline (issue 11: "SDK ≤ 5 MiB RSS over a bare Swift process"): a Swift
// process that links Foundation, uses it once, and waits for SIGTERM. It is built with the same flags
// as the SDK and the sidecar it is compared with, so static and dynamic builds each get their own baseline.
FileHandle.standardOutput.write(Data("capsule-bare \(Date().timeIntervalSince1970)\n".utf8))
signal(SIGTERM, SIG_DFL)
while true { sleep(3600) }
