import Calf
import CalfStore
import Foundation
import Testing

/// Runs a system command to its end; throws with its exit status on failure.
/// (`posix_spawn` and `waitpid`: Foundation's `Process` monitor thread can
/// block on another child and leave every wait spinning; see the
/// end-to-end tests' `ChildProcess`.)
private func runCommand(_ path: String, _ arguments: [String]) throws {
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, path, nil, nil, argv, environ)
    guard code == 0 else { throw DurableError.notAccepted("\(path): \(String(cString: strerror(code)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    guard status == 0 else {
        throw DurableError.notAccepted("\(path) \(arguments.joined(separator: " ")) exited with status \(status)")
    }
}

/// Whether this machine lets the tests mount a tmpfs (root, and allowed in this container).
private let canMountTmpfs: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
    let probe = FileManager.default.temporaryDirectory.appendingPathComponent("calf-mount-probe-\(UUID().uuidString.prefix(8))").path
    guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil else { return false }
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard (try? runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "calf-probe", probe])) != nil else { return false }
    return (try? runCommand("/bin/umount", [probe])) != nil
}()

/// A real failed commit: the data directory is a small tmpfs that fills up
/// (LMDB's write gets ENOSPC), then is made bigger and the node restarted.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FullDiskTests {
    @Test(.enabled(if: canMountTmpfs, "needs to mount a small tmpfs (root, and a machine that allows it)"))
    func aFullDiskStopsTheNodeTakingMailAndLosesNothingItAccepted() async throws {
        try await withDataDirectory { dir in
            try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "calf-full-disk", dir])
            defer { try? runCommand("/bin/umount", ["-l", dir]) }
            var accepted: [Int] = []
            var failure: String?
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir, mapSize: 1 << 20))
                let ledger = try await node.spawnDurable(Ledger(), name: "tally")
                for n in 1...200_000 {
                    switch await node.send(.add(n), to: ledger, key: "k\(n)") {
                    case .accepted: accepted.append(n)
                    case .failed(let reason): failure = reason.description
                    case .duplicate: Issue.record("k\(n) was new")
                    }
                    if failure != nil { break }
                }
                #expect(failure?.contains("journal commit failed") == true, "\(failure ?? "the disk never filled")")
                #expect(accepted.count > 100, "the disk held some messages first")
                // Latched: nothing more is taken once a commit failed (memory and journal may differ).
                if case .accepted = await node.send(.add(0), to: ledger, key: "after") { Issue.record("accepted after a failed commit") }
                try await node.shutdown()
            }
            try runCommand("/bin/mount", ["-o", "remount,size=64m", dir])
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            #expect(node.quarantinedProcesses.isEmpty)
            let state = try await ledgerState(node, "tally")
            #expect(state.seen == accepted, "every accepted message handled once, in order; the refused ones not at all")
            #expect(state.total == accepted.reduce(0, +))
            // Their keys were kept: sent again, they are duplicates.
            let address = try #require(node.address(named: "tally", as: Ledger.Message.self))
            if let last = accepted.last, case .duplicate = await node.send(.add(last), to: address, key: "k\(last)") {} else {
                Issue.record("the last accepted key was not known after the restart")
            }
            try await node.shutdown()
        }
    }
}
