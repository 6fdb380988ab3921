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

/// The `shell` benchmark of `calf bench`: how long the shell's `ps`,
/// `stats` and a refresh of `top` (40 rows) take on a node holding many
/// processes, through the control socket.
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
        let top = ControlProtocol.Request(cmd: "top", limit: 40)
        for (request, label) in [(try ShellLine.parse("ps"), "ps"), (try ShellLine.parse("ps --sort msgs"), "ps_sorted"), (try ShellLine.parse("stats"), "stats"), (top, "top_refresh")] {
            var times: [Double] = []
            var bytes = 0
            for _ in 0..<5 {
                let began = Date()
                let reply = try client.request(request)
                times.append(Date().timeIntervalSince(began))
                bytes = reply.result?.utf8.count ?? 0
            }
            times.sort()
            report.figure("shell_\(label)", times[times.count / 2] * 1000, "ms", note: "median of 5 round trips, \(processes) processes, \(bytes >> 10) KiB of JSON")
        }
        try await node.shutdown()
    }
}
