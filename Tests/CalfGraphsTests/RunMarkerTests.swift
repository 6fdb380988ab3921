import Foundation
import Testing
@testable import CalfGraphs

/// The marker files that make a run happen at most once.
@Suite struct RunMarkerTests {
    @Test func aGroupRecordedBeforeTheMachineBootedIsNotStopped() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("calf-marker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let marker = RunMarker(logPath: directory + "/1.log")
        #expect(marker.started() == nil)
        marker.begin(group: 4242, startedAt: 17)
        let same = try #require(marker.started())
        #expect(same.group == 4242 && same.startedAt == 17, "this boot's group was lost")
        // The same file written under another boot: its group id names nothing of ours now.
        try "4242 17 00000000-0000-0000-0000-000000000000\n".write(toFile: marker.startedPath, atomically: true, encoding: .utf8)
        let before = try #require(marker.started())
        #expect(before.group == 0 && before.startedAt == 17)
        // A marker of the format before boot ids still reads.
        try "4242 17\n".write(toFile: marker.startedPath, atomically: true, encoding: .utf8)
        #expect(marker.started()?.group == 4242)
        #expect(RunMarker.bootID != "unknown")
    }
}
