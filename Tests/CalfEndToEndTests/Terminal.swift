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
