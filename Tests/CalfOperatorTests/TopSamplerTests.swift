import CalfControl
import Foundation
import Testing
@testable import CalfOperator

@Suite(.timeLimit(.minutes(1))) struct TopSamplerTests {
    @Test func topRatesAreTheDifferenceOfTwoSamplesKeptOnTheNode() throws {
        func report(_ pid: String, scheduler: Int = 0, handled: UInt64, mailbox: Int = 0, memory: Int = 100) throws -> ProcessReport {
            let json = #"{"pid":"\#(pid)","behavior":"B","scheduler":\#(scheduler),"status":"waiting","mailbox":\#(mailbox),"handled":\#(handled),"restarts":0,"memory":\#(memory),"durable":false,"trapsExits":false,"links":[],"monitoredBy":[]}"#
            return try JSONDecoder().decode(ProcessReport.self, from: Data(json.utf8))
        }
        func stats(records: UInt64) throws -> NodeStats {
            let json = #"{"schedulers":[{"index":0,"processes":2,"runQueue":1,"messagesPerSecond":0,"parked":false},{"index":1,"processes":1,"runQueue":0,"messagesPerSecond":0,"parked":true}],"processesByStatus":{"waiting":3},"windowSeconds":0,"processesMoved":7,"log":{"commits":1,"records":\#(records),"recordsPerSecond":0,"commitP99Milliseconds":1.5,"usedBytes":0,"mapBytes":0,"mapGrowths":0,"restarts":0,"deadLettered":0}}"#
            return try JSONDecoder().decode(NodeStats.self, from: Data(json.utf8))
        }
        var sampler = TopSampler()
        let start = ContinuousClock.now
        let first = sampler.answer([try report("<0.1>", handled: 10), try report("<0.2>", handled: 50)], stats: try stats(records: 100), at: start, order: .rate, limit: 10)
        #expect(first.rows.allSatisfy { $0.rate == 0 } && first.intervalSeconds == 0 && first.recordsPerSecond == 0)
        let reports = [try report("<0.1>", handled: 310), try report("<0.2>", handled: 150, mailbox: 9, memory: 900), try report("<0.3>", scheduler: 1, handled: 1)]
        var second = sampler
        let byRate = second.answer(reports, stats: try stats(records: 300), at: start + .seconds(2), order: .rate, limit: 2)
        // Only the top rows come back, with the total count; rates over the 2 s between the two answers.
        #expect(byRate.processes == 3 && byRate.rows.map(\.report.pid) == ["<0.1>", "<0.2>"])
        #expect(byRate.rows.map(\.rate) == [150, 50])
        #expect(byRate.messagesPerSecond == [200, 0] && byRate.recordsPerSecond == 100)
        let byMailbox = sampler.answer(reports, stats: try stats(records: 300), at: start + .seconds(2), order: .mailbox, limit: 1)
        #expect(byMailbox.rows.map(\.report.pid) == ["<0.2>"])
    }
}
