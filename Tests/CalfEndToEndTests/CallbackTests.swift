import CalfControl
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The callback connector through the real binary over loopback: Demo's
/// Waiter mints callback URLs (through the HTTP API's calls); a POST to
/// one is delivered once (200 after the commit; the same body again 200
/// and nothing more; another body 409), expired or cancelled is 410, an
/// unknown token 404, no bearer token needed, the token never in the
/// node's log; and deliveries answered 200 stay delivered once across
/// `kill -9`s while senders retry until they see a 2xx.
@Suite(.serialized, .timeLimit(.minutes(3))) struct CallbackTests {
    typealias API = HTTPAPITests

    static func tree(in dir: String) throws -> String {
        let path = dir + "/waiter.yaml"
        try "supervisor: callbacks\nchildren:\n  - worker: waiter\n    behavior: Waiter\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func token(_ data: String) throws -> String {
        try String(contentsOfFile: data + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Asks the Waiter for a URL good for `seconds`; returns its path.
    static func mint(_ base: String, token: String, seconds: Double) async throws -> String {
        let answer = try await API.request("POST", base + "/v1/processes/waiter/calls", token: token, body: "{\"mint\":{\"seconds\":\(seconds)}}")
        #expect(answer.status == 200, "\(answer.body)")
        guard case .string(let url)? = answer.json else { throw NodeProcess.Failure(description: "no URL: \(answer.body)") }
        #expect(url.hasPrefix(base + "/v1/callbacks/c1-"), "\(url)")
        return String(url.dropFirst(base.count))
    }

    static func arrivals(_ base: String, token: String) async throws -> [JSONValue] {
        let state = try await API.request("GET", base + "/v1/processes/waiter/state", token: token)
        guard case .array(let arrivals)? = state.json?["arrivals"] else { throw NodeProcess.Failure(description: "no state: \(state.body)") }
        return arrivals
    }

    @Test func aCallbackIsDeliveredOnceAndAnsweredAsItsStateSays() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let node = try await NodeProcess(data: data, tree: try Self.tree(in: dir), durability: "process",
                                             extra: ["--http", "127.0.0.1:0"], environment: ["CALF_LOG_LEVEL": "debug"])
            defer { _ = node.stop() }
            let base = try API.baseURL(of: node)
            let token = try Self.token(data)
            let path = try await Self.mint(base, token: token, seconds: 60)

            // No bearer token: the URL is the credential.
            let first = try await API.request("POST", base + path, token: nil, body: #"{"status":"SUCCESS"}"#, headers: ["Content-Type": "application/json"])
            #expect(first.status == 200 && first.json?["delivered"] == true, "\(first.body)")
            let again = try await API.request("POST", base + path, token: nil, body: #"{"status":"SUCCESS"}"#)
            #expect(again.status == 200 && again.json?["duplicate"] == true, "\(again.body)")
            let other = try await API.request("POST", base + path, token: nil, body: #"{"status":"FAILURE"}"#)
            #expect(other.status == 409 && other.json?["error"]?["code"] == "conflict", "\(other.body)")
            let arrivals = try await Self.arrivals(base, token: token)
            #expect(arrivals.count == 1)
            #expect(arrivals.first?["body"] == #"{"status":"SUCCESS"}"#)

            // Twenty senders at once with one body: one delivery, every one of them 200.
            let racing = try await Self.mint(base, token: token, seconds: 60)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 { group.addTask { try await API.request("POST", base + racing, token: nil, body: "same").status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 20))
            #expect(try await Self.arrivals(base, token: token).count == 2)

            // Unknown and malformed tokens, an expired and a cancelled callback.
            let unknown = "/v1/callbacks/c1-" + String(repeating: "A", count: 43)
            #expect(try await API.request("POST", base + unknown, token: nil, body: "x").status == 404)
            #expect(try await API.request("POST", base + "/v1/callbacks/nonsense", token: nil, body: "x").status == 404)
            let short = try await Self.mint(base, token: token, seconds: 0.2)
            try await Task.sleep(for: .milliseconds(400))
            let expired = try await API.request("POST", base + short, token: nil, body: "late")
            #expect(expired.status == 410 && expired.json?["error"]?["code"] == "gone", "\(expired.body)")
            let cancelled = try await Self.mint(base, token: token, seconds: 60)
            let cancel = try await API.request("POST", base + "/v1/processes/waiter/calls", token: token, body: "{\"cancel\":{\"url\":\"\(base + cancelled)\"}}")
            #expect(cancel.status == 200 && cancel.json == true, "\(cancel.body)")
            #expect(try await API.request("POST", base + cancelled, token: nil, body: "x").status == 410)
            #expect(try await Self.arrivals(base, token: token).count == 2)

            // The shell lists them by hash, never a token: two delivered (the
            // first with its 409), one expired (a 410), one cancelled (a 410).
            let (status, listing, errors) = try await runShell(data, ["callbacks waiter"])
            #expect(status == 0, "\(errors)")
            let rows = listing.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(rows.count == 4, "\(listing)")
            #expect(rows.allSatisfy { $0.count == 7 && $0[2] == "waiter" && $0[0].count == 12 }, "\(listing)")
            #expect(rows.map { $0[4] }.sorted() == ["cancelled", "delivered", "delivered", "expired"], "\(listing)")
            #expect(rows.filter { $0[4] == "delivered" }.map { $0[6] }.sorted() == ["0", "1"], "\(listing)")
            #expect(rows.filter { $0[4] != "delivered" }.allSatisfy { $0[5] == "1" }, "\(listing)")
            for minted in [path, racing, short, cancelled] {
                #expect(!listing.contains(String(minted.dropFirst("/v1/callbacks/c1-".count).prefix(12))))
            }

            // The request log (debug) shows callbacks cut short, never a token.
            let log = node.output.withLock { $0 }
            #expect(log.contains("POST /v1/callbacks/c1-"), "the debug request log is on")
            for minted in [path, racing, short, cancelled] {
                #expect(!log.contains(String(minted.dropFirst("/v1/callbacks/".count).dropFirst(7))))
            }
        }
    }

    @Test func deliveriesAnswered200StayDeliveredOnceAcrossKill9() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            let tree = try Self.tree(in: dir)
            var node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: ["--http", "127.0.0.1:0"])
            let base = Locked(try API.baseURL(of: node))
            let token = try Self.token(data)
            var paths: [String] = []
            for _ in 0..<100 { paths.append(try await Self.mint(base.withLock { $0 }, token: token, seconds: 600)) }
            let minted = paths

            // Each sender retries until it sees a 2xx (connection refused or 503 while the node is down).
            let senders = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for (index, path) in minted.enumerated() {
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(index * 12))
                            var tries = 0
                            while true {
                                tries += 1
                                if let answer = try? await API.request("POST", base.withLock { $0 } + path, token: nil, body: "body-\(index)"),
                                   answer.status == 200 { return tries }
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                    return try await group.reduce(0) { $0 + $1 }
                }
            }
            for _ in 0..<3 {
                try await Task.sleep(for: .milliseconds(250))
                await node.killHard()
                node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: ["--http", "127.0.0.1:0"])
                let restarted = try API.baseURL(of: node)
                base.withLock { $0 = restarted }
            }
            let tries = try await senders.value
            #expect(tries > 100, "some senders found the node down and sent again")
            let arrivals = try await Self.arrivals(base.withLock { $0 }, token: token)
            let bodies = arrivals.compactMap { arrival -> String? in
                if case .string(let body)? = arrival["body"] { return body }
                return nil
            }
            #expect(bodies.count == 100, "each callback delivered once")
            #expect(Set(bodies) == Set((0..<100).map { "body-\($0)" }))
            // After the kills, each URL still knows its body.
            let current = base.withLock { $0 }
            #expect(try await API.request("POST", current + minted[0], token: nil, body: "body-0").status == 200)
            #expect(try await API.request("POST", current + minted[0], token: nil, body: "other").status == 409)
            _ = await node.stop()
        }
    }
}
