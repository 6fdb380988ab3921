import Foundation
import Testing
@testable import CalfStore

@Suite struct StoreEnvironmentTests {
    @Test func opensWithOwnerOnlyPermissions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = try StoreEnvironment(path: dir.path, mapSize: 1 << 20)
        #expect(env.mapSize == 1 << 20)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("data.mdb").path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        env.close()
        #expect(StoreEnvironment.libraryVersion.hasPrefix("LMDB"))
    }

    @Test func missingDirectoryIsAClearError() {
        do {
            _ = try StoreEnvironment(path: "/nonexistent/calf/\(UUID().uuidString)")
            Issue.record("opening a missing directory succeeded")
        } catch {
            #expect(error.operation.hasPrefix("mdb_env_open"))
            #expect(error.description.contains("No such file or directory"))
        }
    }
}
