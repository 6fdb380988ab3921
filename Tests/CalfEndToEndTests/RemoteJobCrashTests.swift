import CalfControl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The example's fake job service, run from its binary.
struct FakeJobs {
    let process: ChildProcess
    let port: Int

    /// Starts `fake-jobs` with `options` on a port it picks; returns once it listens.
    static func start(in dir: String, _ options: [String]) async throws -> FakeJobs {
        let binary = try calfBinary().deletingLastPathComponent().appendingPathComponent("fake-jobs").path
        let log = dir + "/fake-jobs.log"
        let fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeProcess.Failure(description: "cannot open \(log)") }
        defer { close(fd) }
        let process = try ChildProcess(binary, ["--port", "0"] + options, output: fd)
        // A loaded machine starts a debug build of it slowly (several at once, beside the rest of the suite).
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "fake-jobs ready http://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), text[range.upperBound...].contains("\n") { return FakeJobs(process: process, port: port) }
            }
            guard process.isRunning else { throw NodeProcess.Failure(description: "fake-jobs exited: \(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGKILL)
        throw NodeProcess.Failure(description: "fake-jobs not ready within 60 s: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A loopback port nobody listens on now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw NodeProcess.Failure(description: "no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The RemoteJob example through the binary: reboots of forty hosts asked
/// for over HTTP (with idempotency keys, senders retrying until accepted)
/// while the node is killed with -9 at random moments and the job service
/// fails requests, loses answers and calls back only now and then: every
/// job completes, each host got one job (the service counts creations by
/// Idempotency-Key), and each outcome is that job's.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RemoteJobCrashTests {
    typealias API = HTTPAPITests

    @Test func aNodeKilledAtRandomMomentsLosesNoJobAndCreatesNoneTwice() async throws {
        try await withTemporaryDataDirectory { dir in
            let service = try await FakeJobs.start(in: dir, ["--callback-rate", "0.5", "--fail-rate", "0.15", "--lose-rate", "0.15", "--job-seconds", "0.3"])
            defer { service.stop() }
            let serviceURL = "http://127.0.0.1:\(service.port)"
            let tree = dir + "/jobs.yaml"
            try """
            supervisor: jobs
            children:
              - worker: reboots
                behavior: RemoteJob
                config: { service: "\(serviceURL)", callbackTimeoutSeconds: 0.5, pollSeconds: 0.1, pollTimeoutSeconds: 60 }

            """.write(toFile: tree, atomically: true, encoding: .utf8)
            let port = try freePort()
            let base = "http://127.0.0.1:\(port)"
            let extra = ["--http", "127.0.0.1:\(port)", "--allow-host", "127.0.0.1:\(service.port)"]
            let data = dir + "/data"
            var node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: extra)
            let token = try CallbackTests.token(data)
            let hosts = (0..<40).map { "host-\($0)" }

            let sender = Task {
                for host in hosts {
                    while true {
                        if let answer = try? await API.request("POST", base + "/v1/processes/reboots/messages", token: token,
                                                                body: "{\"reboot\":{\"host\":\"\(host)\"}}", headers: ["Idempotency-Key": "reboot-\(host)"]),
                           answer.status == 202 || answer.status == 200 { break }
                        try await Task.sleep(for: .milliseconds(30))
                    }
                    try await Task.sleep(for: .milliseconds(15))
                }
            }
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<6 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...500, using: &generator)))
                await node.killHard()
                node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: extra)
            }
            try await sender.value

            var reports: [JSONValue] = []
            var last = ""
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                let answer = try await API.request("POST", base + "/v1/processes/reboots/calls", token: token, body: "{\"list\":{}}")
                last = "\(answer.status) \(answer.body.prefix(300))"
                if case .array(let list)? = answer.json { reports = list }
                let done = reports.filter { $0["phase"] == "completed" || $0["phase"] == "failed" }
                if reports.count == hosts.count, done.count == hosts.count { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(reports.count == hosts.count, "every accepted reboot is there; the last answer: \(last); the node: \(node.output.withLock { $0 }.suffix(2000))")
            let failed = reports.filter { $0["phase"] != "completed" }
            #expect(failed.isEmpty, "\(failed)")

            let stats = try await API.request("GET", serviceURL + "/stats", token: nil)
            guard case .object(let byHost)? = stats.json?["jobsByHost"] else { throw NodeProcess.Failure(description: "stats: \(stats.body)") }
            for host in hosts {
                guard case .array(let jobs)? = byHost[host] else {
                    Issue.record("no job for \(host)")
                    continue
                }
                #expect(jobs.count == 1, "\(host) got \(jobs.count) jobs")
                let report = reports.first { $0["host"] == .string(host) }
                #expect(report?["jobId"] == jobs.first, "\(host)'s outcome is its job")
                if case .string(let output)? = report?["output"] {
                    #expect(output.contains("\"host\":\"\(host)\"") && output.contains("SUCCESS"), "\(output)")
                }
            }
            _ = await node.stop()
        }
    }
}
