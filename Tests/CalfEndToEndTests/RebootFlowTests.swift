import CalfControl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// The `reboot` flow (Flowmetal's `reboot(host)` on `reliableRemoteJob`)
/// through the binary and its HTTP API, against the example's job service.
@Suite(.serialized, .timeLimit(.minutes(4))) struct RebootFlowTests {
    typealias API = HTTPAPITests

    /// A node with the HTTP API and the connectors allowed to reach `services`.
    private static func startNode(_ dir: String, services: [FakeJobs]) async throws -> (NodeProcess, base: String, token: String, extra: [String], tree: String) {
        let tree = dir + "/jobs.yaml"
        try """
        supervisor: jobs
        children:
          - worker: reboots
            behavior: RemoteJob
            config: { service: "http://127.0.0.1:\(services[0].port)" }

        """.write(toFile: tree, atomically: true, encoding: .utf8)
        let port = try freePort()
        let extra = ["--http", "127.0.0.1:\(port)"] + services.flatMap { ["--allow-host", "127.0.0.1:\($0.port)"] }
        let node = try await NodeProcess(data: dir + "/data", tree: tree, durability: "process", extra: extra)
        return (node, "http://127.0.0.1:\(port)", try CallbackTests.token(dir + "/data"), extra, tree)
    }

    private static func directory(_ dir: String, _ name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
        return dir + "/" + name
    }

    private static func input(_ host: String, _ service: FakeJobs, callback: Double = 5, poll: Double = 0.2, pollTimeout: Double = 30) -> String {
        "{\"host\":\"\(host)\",\"service\":\"http://127.0.0.1:\(service.port)\",\"callbackTimeoutSeconds\":\(callback),\"pollSeconds\":\(poll),\"pollTimeoutSeconds\":\(pollTimeout)}"
    }

    /// Starts a reboot flow (retrying until the node accepts it); returns its id.
    private static func start(_ base: String, _ token: String, _ body: String, key: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let answer = try? await API.request("POST", base + "/v1/flows/reboot", token: token, body: body, headers: ["Idempotency-Key": key]),
               answer.status == 202 || answer.status == 200, case .string(let id)? = answer.json?["id"] {
                return id
            }
            try await Task.sleep(for: .milliseconds(30))
        }
        throw NodeProcess.Failure(description: "the flow \(key) was never accepted")
    }

    /// Waits until flow `id` is over; returns its report.
    private static func finished(_ base: String, _ token: String, _ id: String, within seconds: Int = 60) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last = ""
        while ContinuousClock.now < deadline {
            if let answer = try? await API.request("GET", base + "/v1/flows/\(id)", token: token), let report = answer.json {
                last = answer.body
                if ["completed", "failed", "cancelled", "diverged"].contains(report["status"]?.stringValue ?? "") { return report }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NodeProcess.Failure(description: "flow \(id) not over after \(seconds) s: \(last)")
    }

    private static func stats(_ service: FakeJobs) async throws -> JSONValue {
        let answer = try await API.request("GET", "http://127.0.0.1:\(service.port)/stats", token: nil)
        return try #require(answer.json)
    }

    @Test func theRebootFlowWaitsForItsCallbackPollsWithoutOneAndGivesUpAtItsBound() async throws {
        try await withTemporaryDataDirectory { dir in
            // Each service stopped at the end, even when a later one does not start.
            let onTime = try await FakeJobs.start(in: try Self.directory(dir, "a"), ["--callback-rate", "1", "--callback-times", "2", "--job-seconds", "0.2", "--fail-creates", "2"])
            defer { onTime.stop() }
            let silent = try await FakeJobs.start(in: try Self.directory(dir, "b"), ["--callback-rate", "0", "--job-seconds", "0.3"])
            defer { silent.stop() }
            let late = try await FakeJobs.start(in: try Self.directory(dir, "c"), ["--callback-rate", "1", "--job-seconds", "1.2"])
            defer { late.stop() }
            let never = try await FakeJobs.start(in: try Self.directory(dir, "d"), ["--callback-rate", "0", "--job-seconds", "100000"])
            defer { never.stop() }
            let services = [onTime, silent, late, never]
            let (node, base, token, _, _) = try await Self.startNode(dir, services: services)

            // The callback on time, delivered twice; the creation answered 503 twice first.
            let a = try await Self.start(base, token, Self.input("h1", onTime), key: "a")
            // No callback: polling ends it.
            let b = try await Self.start(base, token, Self.input("h2", silent, callback: 0.2, poll: 0.1), key: "b")
            // The callback comes while the flow polls (every 20 s): it ends the polling at once.
            let c = try await Self.start(base, token, Self.input("h3", late, callback: 0.2, poll: 20), key: "c")
            // The job never completes: the poll bound fails the flow.
            let d = try await Self.start(base, token, Self.input("h4", never, callback: 0.1, poll: 0.1, pollTimeout: 1), key: "d")
            // The same key again is the same flow.
            #expect(try await Self.start(base, token, Self.input("h1", onTime), key: "a") == a)

            let reportA = try await Self.finished(base, token, a)
            #expect(reportA["status"] == "completed", "\(reportA)")
            #expect(reportA["output"]?["host"] == "h1" && reportA["output"]?["status"] == "SUCCESS", "\(reportA)")
            let statsA = try await Self.stats(onTime)
            #expect(statsA["createAttempts"]?["h1"] == 3, "two 503s, then the job: \(statsA)")
            #expect(statsA["jobsByHost"]?["h1"] == ["job-1"], "one job: \(statsA)")
            #expect(statsA["statusPolls"] == 0, "the callback came in time: no polls")
            #expect(await eventually { ((try? await Self.stats(onTime))?["callbackStatuses"]) == [200, 200] }, "the second delivery of the same body is a 200 too")

            let reportB = try await Self.finished(base, token, b)
            #expect(reportB["status"] == "completed" && reportB["output"]?["host"] == "h2", "\(reportB)")
            let polls = try await Self.stats(silent)["statusPolls"]
            #expect(polls != nil && polls != 0, "polled: \(String(describing: polls))")

            let reportC = try await Self.finished(base, token, c)
            #expect(reportC["status"] == "completed" && reportC["output"]?["host"] == "h3", "\(reportC)")
            // One poll (PENDING), then the callback ended the 20 s sleep: without it the flow
            // would have needed a second poll to see the job done.
            #expect(try await Self.stats(late)["statusPolls"] == 1, "one poll, then the callback")

            let reportD = try await Self.finished(base, token, d)
            #expect(reportD["status"] == "failed", "\(reportD)")
            #expect(reportD["error"]?["message"]?.stringValue?.contains("still not completed after 1") == true, "\(reportD)")

            // The deploy gate, beside the running node: a flow still polling replays with this binary.
            let e = try await Self.start(base, token, Self.input("h5", never, callback: 0.1, poll: 600, pollTimeout: 3600), key: "e")
            #expect(await eventually { (try? await API.request("GET", base + "/v1/flows/\(e)", token: token))?.json?["steps"] == 5 }, "created, polled once, sleeping until the next poll")
            let (checked, report, complaint) = try await runCalf(["flows", "check", "--data", dir + "/data"])
            #expect(checked == 0, "\(report) \(complaint)")
            #expect(report.contains(e) && report.contains("replays; waits on wait callback"), "\(report)")
            #expect(report.contains("ended (completed)") && report.contains("every flow replays"), "\(report)")

            // The shell lists the flows and shows one's steps with their call sites.
            let (status, listing, problem) = try await runShell(dir + "/data", ["flows"])
            #expect(status == 0, "\(problem)")
            for id in [a, b, c, d] { #expect(listing.contains(id), "\(listing)") }
            #expect(listing.contains("reboot") && listing.contains("completed") && listing.contains("failed"), "\(listing)")
            let (_, history, _) = try await runShell(dir + "/data", ["flow \(d)"])
            #expect(history.contains("callback") && history.contains("effect") && history.contains("wait"), "\(history)")
            #expect(history.contains("RemoteJob/Reboot.swift:"), "call sites: \(history)")
            #expect(history.contains("error: RemoteJobError") || history.contains("still not completed"), "\(history)")
            _ = await node.stop()
        }
    }

    @Test func rebootFlowsKilledAtRandomMomentsEachCreateOneJobAndComplete() async throws {
        try await withTemporaryDataDirectory { dir in
            let service = try await FakeJobs.start(in: try Self.directory(dir, "s"), ["--callback-rate", "0.5", "--fail-rate", "0.1", "--lose-rate", "0.1", "--job-seconds", "0.3"])
            defer { service.stop() }
            var (node, base, token, extra, tree) = try await Self.startNode(dir, services: [service])
            let hosts = (0..<24).map { "host-\($0)" }
            let ids = Mutex<[String: String]>([:])
            let sender = Task {
                for host in hosts {
                    let id = try await Self.start(base, token, Self.input(host, service, callback: 0.5, poll: 0.1, pollTimeout: 60), key: "reboot-\(host)")
                    ids.withLock { $0[host] = id }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<6 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...500, using: &generator)))
                await node.killHard()
                node = try await NodeProcess(data: dir + "/data", tree: tree, durability: "process", extra: extra)
            }
            try await sender.value
            let stats = try await Self.stats(service)
            for host in hosts {
                let id = try #require(ids.withLock { $0[host] })
                let report = try await Self.finished(base, token, id, within: 90)
                #expect(report["status"] == "completed", "\(host): \(report); the node: \(node.output.withLock { $0 }.suffix(1500))")
                #expect(report["output"]?["host"] == .string(host) && report["output"]?["status"] == "SUCCESS", "\(report)")
                let jobs = try await Self.stats(service)["jobsByHost"]?[host]
                guard case .array(let list)? = jobs else {
                    Issue.record("no job for \(host): \(stats)")
                    continue
                }
                #expect(list.count == 1, "\(host) got \(list.count) jobs")
                #expect(report["output"]?["id"] == list.first, "\(host)'s output is its job")
            }
            _ = await node.stop()
        }
    }

    /// One flow, the node killed with -9 as soon as each new step shows (and,
    /// every other time, a few milliseconds later: inside the attempt the
    /// step started): one job at the service, the same output as a flow
    /// left alone.
    @Test func aRebootFlowKilledAtEveryStepBoundaryCreatesOneJobAndCompletes() async throws {
        try await withTemporaryDataDirectory { dir in
            // A job long enough for several polls (steps) even when a loaded machine restarts the node slowly.
            let service = try await FakeJobs.start(in: try Self.directory(dir, "s"), ["--callback-rate", "1", "--job-seconds", "6"])
            defer { service.stop() }
            var (node, base, token, extra, tree) = try await Self.startNode(dir, services: [service])
            let id = try await Self.start(base, token, Self.input("h9", service, callback: 0.3, poll: 0.2, pollTimeout: 60), key: "step-kills")
            var seen = 0
            var kills = 0
            var report: JSONValue = .null
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                guard let answer = try? await API.request("GET", base + "/v1/flows/\(id)", token: token), let now = answer.json else {
                    try await Task.sleep(for: .milliseconds(5))
                    continue
                }
                report = now
                if report["status"] == "completed" || report["status"] == "failed" { break }
                guard case .integer(let steps)? = report["steps"], steps > seen else {
                    try await Task.sleep(for: .milliseconds(2))
                    continue
                }
                seen = Int(steps)
                if kills % 2 == 1 { try await Task.sleep(for: .milliseconds(Int.random(in: 1...15))) }
                await node.killHard()
                kills += 1
                node = try await NodeProcess(data: dir + "/data", tree: tree, durability: "process", extra: extra)
            }
            #expect(kills >= 4, "killed after \(kills) steps")
            #expect(report["status"] == "completed", "\(report)")
            #expect(report["output"]?["host"] == "h9" && report["output"]?["status"] == "SUCCESS", "\(report)")
            let stats = try await Self.stats(service)
            #expect(stats["jobsByHost"]?["h9"] == ["job-1"], "one job: \(stats)")
            _ = await node.stop()
        }
    }
}
