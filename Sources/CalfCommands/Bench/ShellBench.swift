import Calf
import CalfBenchmarks
import CalfShell
import Foundation

/// An idle process for the shell benchmark.
struct IdleProcess: Behavior {
    typealias State = Void
    enum Message: Sendable { case nothing }
    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {}
}

/// The `shell` benchmark of `calf bench`: how long the shell's `ps` and
/// `stats` take on a node holding many processes, through the control socket.
enum ShellBench {
    static func run(processes: Int, report: Report) async throws {
        let node = try Node()
        for _ in 0..<processes { _ = try await node.spawn(IdleProcess()) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-shell-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ControlServer(node: node, path: dir + "/node.sock")
        defer { server.stop() }
        let client = try ControlClient(dataDirectory: dir)
        for (command, label) in [("ps", "ps"), ("ps --sort msgs", "ps_sorted"), ("stats", "stats")] {
            var times: [Double] = []
            var bytes = 0
            for _ in 0..<5 {
                let began = Date()
                let reply = try client.request(try ShellLine.parse(command))
                times.append(Date().timeIntervalSince(began))
                bytes = reply.result?.utf8.count ?? 0
            }
            times.sort()
            report.figure("shell_\(label)", times[times.count / 2] * 1000, "ms", note: "median of 5 round trips, \(processes) processes, \(bytes >> 10) KiB of JSON")
        }
        try await node.shutdown()
    }
}
