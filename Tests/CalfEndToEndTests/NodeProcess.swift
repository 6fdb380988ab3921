import CalfShell
import Foundation
import Synchronization

/// The `calf` binary built next to this test bundle.
func calfBinary() throws -> URL {
    let here = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    let candidate = here.deletingLastPathComponent().appendingPathComponent("calf")
    guard FileManager.default.isExecutableFile(atPath: candidate.path) else {
        throw NodeProcess.Failure(description: "no calf binary at \(candidate.path): build it with `swift build`")
    }
    return candidate
}

/// The package's root directory (for Supervisors/).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A `calf node` run as a child process.
final class NodeProcess: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let process = Process()
    let output = Locked("")
    let dataDirectory: String
    /// The node's stdout and stderr. Its reading handler is removed once the
    /// node has exited: a dispatch source left on a descriptor that is closed
    /// and then reused by another socket crashes libdispatch.
    private let pipe = Pipe()

    /// Starts `calf node --data DIR [--durability D] TREE` and waits for its
    /// ready line (sleeping between looks, so no thread of the test pool is held).
    /// With `fileSizeLimit`, the node runs under `ulimit -f` (that many
    /// 512-byte blocks) with SIGXFSZ ignored: a write past it fails with
    /// EFBIG, as on a full disk, without root.
    init(data: String, tree: String, durability: String = "fsync", extra: [String] = [], fileSizeLimit: Int? = nil, readyWithin seconds: Double = 30) async throws {
        dataDirectory = data
        let arguments = ["node", "--data", data, "--durability", durability] + extra + [tree]
        if let blocks = fileSizeLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "trap '' XFSZ; ulimit -f \(blocks); exec \"$0\" \"$@\"", try calfBinary().path] + arguments
        } else {
            process.executableURL = try calfBinary()
            process.arguments = arguments
        }
        process.standardOutput = pipe
        process.standardError = pipe
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.withLock { $0 += String(decoding: data, as: UTF8.self) } }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while !output.withLock({ $0.contains("calf node ready socket=\(data)/node.sock") }) {
            guard process.isRunning else {
                stopReading()
                throw Failure(description: "calf node exited: \(output.withLock { $0 })")
            }
            guard Date() < deadline else {
                await killHard()
                throw Failure(description: "calf node not ready after \(seconds) s: \(output.withLock { $0 })")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    deinit { stopReading() }

    /// Removes the reading handler (what the node printed has been taken in as it came;
    /// reading to the end could wait on a write end another child inherited).
    private func stopReading() {
        pipe.fileHandleForReading.readabilityHandler = nil
    }

    /// `kill -9` and wait for the exit (on a thread of its own).
    func killHard() async {
        kill(process.processIdentifier, SIGKILL)
        let process = self.process
        await offPool { process.waitUntilExit() }
        stopReading()
    }

    /// `signal` (SIGTERM by default) and wait (on a thread of its own); returns the exit status.
    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        kill(process.processIdentifier, signal)
        let process = self.process
        await offPool { process.waitUntilExit() }
        stopReading()
        return process.terminationStatus
    }

    /// `stop`, blocking the calling thread: only for a `defer` at the end of
    /// a test, which cannot wait otherwise.
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        stopReading()
        return process.terminationStatus
    }
}

/// Runs blocking `work` (waiting for a child process, say) on a thread of
/// its own and waits for it without holding one of Swift's cooperative
/// threads: there are as many as cores, and a test that blocks them stalls
/// every other test in the process for as long (seen: polls of a supervisor
/// test answered 7 s late while end-to-end tests waited for their nodes).
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// `offPool` for work that cannot fail.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// Runs `calf shell --data DIR -c COMMAND…`; returns (status, stdout, stderr).
func runShell(_ data: String, _ commands: [String]) async throws -> (Int32, String, String) {
    try await runCalf(["shell", "--data", data] + commands.flatMap { ["-c", $0] })
}

/// Runs `calf ARGUMENTS…` to its end; returns (status, stdout, stderr).
///
/// Its output goes to files, not pipes: a node another test starts at the
/// same moment may inherit a pipe's write end (Foundation's `Process` leaves
/// descriptors open in children), and a reader waiting for the pipe's end
/// would then wait as long as that node lives.
func runCalf(_ arguments: [String]) async throws -> (Int32, String, String) {
    try await runProgram(try calfBinary().path, arguments)
}

/// Runs `program ARGUMENTS…` to its end, its output in files (see
/// `runCalf`), waiting on a thread of its own (see `offPool`).
func runProgram(_ program: String, _ arguments: [String]) async throws -> (Int32, String, String) {
    try await offPool { try runProgramBlocking(program, arguments) }
}

/// Spawned with `posix_spawn` and waited for with `waitpid`, not Foundation's
/// `Process`: its `waitUntilExit` trapped the whole test process when a
/// child was killed by a signal (a binary under test that traps is a test
/// failure, not a crash of the suite), and its children keep the parent's
/// descriptors (here every descriptor above stderr is closed in the child).
private func runProgramBlocking(_ program: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("calf-run-\(UUID().uuidString.prefix(8))")
    let outPath = base.path + ".out", errPath = base.path + ".err"
    defer {
        unlink(outPath)
        unlink(errPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    // glibc's closefrom for spawned children (2.34+), which Swift's Glibc module does not declare.
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
    }
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, program, &actions, nil, argv, environ)
    guard code == 0 else {
        throw NodeProcess.Failure(description: "cannot run \(program): \(String(cString: strerror(code)))")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    // Exited: its status; killed by a signal: 128 + the signal, as a shell reports it.
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), stdout, stderr)
}

/// Runs `body` with the data directory of a live node on the demo tree
/// without its flaky child (`Tests/Fixtures/steady-demo.yaml`: a steady
/// `spare` worker in its place), `process` level.
func withDemoNode(_ body: (String, NodeProcess) async throws -> Void) async throws {
    try await withTemporaryDataDirectory { dir in
        let data = dir + "/data"
        let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Tests/Fixtures/steady-demo.yaml").path, durability: "process")
        defer { _ = node.stop() }
        try await body(data, node)
    }
}

/// A fresh temporary directory, removed afterwards.
func withTemporaryDataDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-e2e-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir.path)
}

/// A value shared between threads under a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}
