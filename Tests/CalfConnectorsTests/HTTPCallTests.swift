// The request connector over real sockets on loopback: an HTTPCall effect
// is retried on 5xx with one Idempotency-Key, final at once on another 4xx,
// refused for a host off the allow-list, failed typed (never journaled) for
// a body over the cap, bounded by its attempt timeout, and held back by an
// open circuit instead of burning its attempts.
import Calf
@testable import CalfConnectors
import Foundation
import Testing

@Suite(.serialized, .timeLimit(.minutes(2))) struct HTTPCallTests {
    @Test func a503IsRetriedWithOneIdempotencyKeyAndTheResponseIsJournaledOnce() async throws {
        let service = FakeService()
        try await service.start()
        defer { Task { await service.stop() } }
        try await withCaller { node, caller in
            var call = try HTTPCall.post("\(service.base)/flaky/j1", json: ["host": "h1"])
            call.policy = quick(attempts: 5)
            node.send(.send(call), to: caller)
            let done = try #require(try await completions(node, caller, count: 1))
            let completion = try #require(done.first)
            let response = try completion.value(as: HTTPCallResponse.self)
            #expect(response.status == 201)
            #expect(try response.json(as: [String: String].self) == ["job_id": "j1"])
            #expect(completion.attempts == 3)
            let seen = service.requests(to: "/flaky/j1")
            #expect(seen.count == 3)
            #expect(Set(seen.map(\.key)) == [completion.key], "the same Idempotency-Key on every attempt: the effect's key")
            #expect(seen.allSatisfy { $0.body == #"{"host":"h1"}"# })
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await completions(node, caller, count: 1)?.count == 1, "taken once")
            #expect(service.requests(to: "/flaky/j1").count == 3)
        }
    }

    @Test func a404IsTheResultAtOnceNotRetried() async throws {
        let service = FakeService()
        try await service.start()
        defer { Task { await service.stop() } }
        try await withCaller { node, caller in
            var call = HTTPCall.get("\(service.base)/missing")
            call.policy = quick(attempts: 5)
            node.send(.send(call), to: caller)
            let completion = try #require(try await completions(node, caller, count: 1)?.first)
            let response = try completion.value(as: HTTPCallResponse.self)
            #expect(response.status == 404)
            #expect(response.text == "no such thing")
            #expect(completion.attempts == 1)
            #expect(service.requests(to: "/missing").count == 1)
        }
    }

    @Test func aHostOffTheAllowListIsRefusedAndNothingIsSent() async throws {
        let service = FakeService()
        try await service.start()
        defer { Task { await service.stop() } }
        try await withCaller(allowed: ["example.com", "127.0.0.1:1"]) { node, caller in
            node.send(.send(HTTPCall.get("\(service.base)/missing")), to: caller)
            let completion = try #require(try await completions(node, caller, count: 1)?.first)
            let failure = try #require(completion.failure)
            #expect(failure.kind == "not allowed")
            #expect(failure.terminal && failure.attempts == 1)
            #expect(failure.message.contains("127.0.0.1:\(service.port.withLock { $0 })"))
            #expect(service.requests(to: "/missing").isEmpty)
        }
    }

    @Test func aBodyOverTheCapIsATypedFailureAndNeverReachesTheJournal() async throws {
        let service = FakeService()
        try await service.start()
        defer { Task { await service.stop() } }
        try await withCaller { node, caller in
            node.send(.send(HTTPCall.get("\(service.base)/big")), to: caller)
            let completion = try #require(try await completions(node, caller, count: 1)?.first)
            #expect(completion.failure?.kind == "response too large")
            #expect(completion.failure?.terminal == true)
            #expect(completion.output == nil)
            let journal = try await node.journalEntries(of: "caller")
            #expect(!journal.isEmpty && journal.allSatisfy { !"\($0.message.map { "\($0)" } ?? "")".contains("xxxxxxxx") })
        }
    }

    @Test func anAttemptPastItsTimeoutFailsAsATimeoutAndIsRetried() async throws {
        let service = FakeService()
        try await service.start()
        defer { Task { await service.stop() } }
        try await withCaller { node, caller in
            var call = HTTPCall.get("\(service.base)/slow")
            call.attemptTimeout = .milliseconds(200)
            call.policy = quick(attempts: 2)
            node.send(.send(call), to: caller)
            let completion = try #require(try await completions(node, caller, count: 1)?.first)
            #expect(completion.failure?.kind == "timeout")
            #expect(completion.failure?.attempts == 2)
            #expect(service.requests(to: "/slow").count == 2)
        }
    }

    @Test func aRefusedConnectionIsATransportFailureRetriedByThePolicy() async throws {
        try await withCaller { node, caller in
            var call = HTTPCall.get("http://127.0.0.1:1/nothing")
            call.policy = quick(attempts: 3)
            node.send(.send(call), to: caller)
            let completion = try #require(try await completions(node, caller, count: 1)?.first)
            #expect(completion.failure?.kind == "transport")
            #expect(completion.failure?.attempts == 3)
        }
    }

    @Test func anOpenCircuitMakesAttemptsWaitForItsCoolDownInsteadOfFailing() async throws {
        let service = FakeService()
        try await service.start()
        defer { Task { await service.stop() } }
        try await withCaller(breakerThreshold: 2, breakerCoolDown: .milliseconds(400)) { node, caller in
            var call = HTTPCall.get("\(service.base)/down")
            call.policy = quick(attempts: 4)
            node.send(.send(call), to: caller)
            let completion = try #require(try await completions(node, caller, count: 1)?.first)
            #expect(completion.failure?.kind == "status" && completion.failure?.status == 502)
            let seen = service.requests(to: "/down")
            #expect(seen.count == 4)
            // Two failures in a row open the circuit: the third attempt
            // (the probe) and, after it failed too, the fourth wait out the cool-down.
            if seen.count == 4 {
                #expect(seen[2].at - seen[1].at >= .milliseconds(350))
                #expect(seen[3].at - seen[2].at >= .milliseconds(350))
            }
        }
    }

    @Test func retryAfterIsReadInBothForms() {
        let now = WallTime(nanosecondsSinceEpoch: 784_111_777 * 1_000_000_000)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.parse("120", now: now) == .seconds(120))
        #expect(RetryAfter.parse(" 3 ", now: now) == .seconds(3))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:50:37 GMT", now: now) == .seconds(60))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:40:00 GMT", now: now) == .zero)
        #expect(RetryAfter.parse("soon", now: now) == nil)
        #expect(RetryAfter.parse("-5", now: now) == nil)
        #expect(RetryAfter.parse("Sun, 32 Nov 1994 08:49:37 GMT", now: now) == nil)
    }

    @Test func theAllowListMatchesHostsPortsAndSubdomains() {
        let list: HostAllowList = ["api.example.com", "*.internal.test", "127.0.0.1:8080", "[::1]:9000"]
        #expect(list.allows(host: "API.example.com", port: 443))
        #expect(!list.allows(host: "example.com", port: 443))
        #expect(list.allows(host: "a.b.internal.test", port: 80))
        #expect(!list.allows(host: "internal.test", port: 80))
        #expect(list.allows(host: "127.0.0.1", port: 8080))
        #expect(!list.allows(host: "127.0.0.1", port: 8081))
        #expect(list.allows(host: "::1", port: 9000))
        #expect(!HostAllowList([]).allows(host: "localhost", port: 80))
        #expect(HostAllowList(["*"]).allows(host: "anything", port: 1))
    }

    @Test func theResponseRoundTripsTextAndBinaryBodies() throws {
        for body in [Array("plain".utf8), [0xff, 0x00, 0xfe]] {
            let response = HTTPCallResponse(status: 200, headers: [HTTPHeader("X-A", "b")], body: body)
            let again = try JSONDecoder().decode(HTTPCallResponse.self, from: JSONEncoder().encode(response))
            #expect(again == response)
        }
    }
}
