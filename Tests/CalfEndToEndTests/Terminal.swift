import Foundation

/// A pseudo-terminal driven through tmux (a server of its own per test):
/// runs a command in a 120×40 window, types keys, reads the screen.
final class TmuxTerminal {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private let socket = "calf-test-\(UUID().uuidString.prefix(8))"
    private let session = "shell"

    /// Starts `command` (a shell command line) in a new window.
    init(_ command: String) throws {
        let (status, _, err) = try tmux(["new-session", "-d", "-s", session, "-x", "120", "-y", "40", command])
        guard status == 0 else { throw Failure(description: "tmux could not start (is tmux installed?): \(err)") }
    }

    deinit { close() }

    /// Ends the command and the tmux server.
    func close() { _ = try? tmux(["kill-server"]) }

    /// Types `keys` (tmux key names: "Enter", "Tab", "C-c", "Up", or literal text with `literal`).
    func type(_ keys: String..., literal: Bool = false) throws {
        _ = try tmux(["send-keys", "-t", session] + (literal ? ["-l"] : []) + keys)
    }

    /// What the window shows now (tmux leaves out trailing spaces).
    func screen() throws -> String {
        try tmux(["capture-pane", "-p", "-t", session]).1
    }

    /// Whether the command still runs (its window closes when it ends).
    var isRunning: Bool { ((try? tmux(["has-session", "-t", session]).0) ?? 1) == 0 }

    /// Waits until the command has ended; false if it still runs after `seconds`.
    func waitForExit(within seconds: Double = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return !isRunning
    }

    /// Waits until the screen satisfies `condition`; returns the last screen seen.
    @discardableResult
    func waitFor(within seconds: Double = 10, _ what: String, _ condition: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            last = try screen()
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "the screen never showed \(what); it shows:\n\(last)")
    }

    /// Waits until the screen contains `text`.
    @discardableResult
    func waitFor(_ text: String, within seconds: Double = 10) async throws -> String {
        try await waitFor(within: seconds, "'\(text)'") { $0.contains(text) }
    }

    private func tmux(_ arguments: [String]) throws -> (Int32, String, String) {
        try spawnClosingDescriptors(["tmux", "-L", socket, "-f", "/dev/null"] + arguments)
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (declared only under _GNU_SOURCE).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// Runs `arguments` (found on PATH) to its end with every descriptor above
/// 2 closed in the child; returns (status, stdout, stderr). Not Foundation's
/// `Process`: its wait lasts as long as any descendant holds a descriptor it
/// made, and tmux's server lives on.
func spawnClosingDescriptors(_ arguments: [String]) throws -> (Int32, String, String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("calf-spawn-\(UUID().uuidString.prefix(8))").path
    let outPath = base + ".out", errPath = base + ".err"
    defer {
        unlink(outPath)
        unlink(errPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    _ = addCloseFrom(&actions, 3)
    var argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var child: pid_t = 0
    let spawned = posix_spawnp(&child, arguments[0], &actions, nil, &argv, environ)
    guard spawned == 0 else { throw TmuxTerminal.Failure(description: "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(child, &status, 0) < 0, errno == EINTR {}
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    // Exited normally: its exit status; killed: 128 + the signal.
    let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, stdout, stderr)
}
