// A node start that finds a flow of a version its binary does not have:
// the flow is parked, named, and the deploy gate says so before the deploy.
import Calf
import CalfControl
import CalfFlows
import Foundation
import Testing

/// A flow type the calf binary does not have: it waits for a signal.
struct Retired: Flow {
    static let version = 1
    static var flowName: String { "retired" }

    func run(_ input: Int, flow: FlowContext) async throws -> Int {
        try await flow.receive("go", as: Int.self) ?? input
    }
}

@Suite(.timeLimit(.minutes(3))) struct FlowVersionTests {
    @Test func aNodeStartThatFindsAFlowOfAVersionItDoesNotHaveParksItNamedAndTheDeployGateSaysSo() async throws {
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            // A flow left waiting by a binary that had `retired@1`.
            do {
                var options = DurableOptions(path: data, durability: .process, behaviors: [])
                options.addFlow(Retired.self)
                let node = try Node(durable: options)
                let flow = try await node.startFlow(Retired(), 7, name: "old-one")
                #expect(await eventually { (try? await node.log(of: flow))?.status == .waiting })
                try await node.shutdown()
            }

            // The deploy gate: this binary has no code for it.
            let (checked, report, complaint) = try await runCalf(["flows", "check", "--data", data])
            #expect(checked == 1, "\(report) \(complaint)")
            #expect(report.contains("gone") && report.contains("flow:retired@1"), "\(report)")
            #expect(report.contains("would not go on with this binary"), "\(report)")

            // The node starts all the same, says why, serves, and lists the flow as gone.
            let tree = packageRoot.appendingPathComponent("Tests/Fixtures/steady-demo.yaml").path
            let port = try freePort()
            let node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: ["--http", "127.0.0.1:\(port)"])
            let said = node.output.withLock { $0 }
            #expect(said.contains("quarantined: no behavior named 'flow:retired@1' is registered with this node (nor any other version of it): a binary with that version must run it"), "\(said)")
            let (status, listing, problem) = try await runShell(data, ["flows"])
            #expect(status == 0, "\(problem)")
            #expect(listing.contains("old-one") && listing.contains("retired") && listing.contains("gone"), "\(listing)")
            #expect(listing.contains("this binary has no code for flow:retired@1"), "\(listing)")
            let (_, shown, refused) = try await runShell(data, ["flow old-one"])
            #expect((shown + refused).contains("is a flow of flow:retired@1, which this binary does not have (gone)"), "\(shown) \(refused)")
            // Over HTTP too: gone, with why, not "no such flow".
            let answer = try await HTTPAPITests.request("GET", "http://127.0.0.1:\(port)/v1/flows/old-one", token: try CallbackTests.token(data))
            #expect(answer.status == 200 && answer.json?["status"] == "gone" && answer.json?["type"] == "retired" && answer.json?["version"] == 1, "\(answer.body)")
            #expect(answer.json?["error"]?["message"]?.stringValue?.contains("a binary with that version must run it") == true, "\(answer.body)")
            let (psStatus, ps, _) = try await runShell(data, ["ps"])
            #expect(psStatus == 0 && ps.contains("collector"), "the node serves: \(ps)")
            _ = await node.stop()

            // Nothing was lost: the journal still has the flow, for a binary that has its version.
            var options = DurableOptions(path: data, durability: .process, behaviors: [])
            options.addFlow(Retired.self)
            let back = try Node(durable: options)
            let flow = try #require(back.flow(named: "old-one", as: Retired.self))
            try await back.signal(flow, "go", 42)
            #expect(try await back.result(of: flow, timeout: .seconds(10)) == 42)
            try await back.shutdown()
        }
    }
}
