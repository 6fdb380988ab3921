import CalfLoop
import Glibc
import CalfControl
import CalfRuntime
import CalfDurable

/// The OS process groups of a node's running ports, one file each in
/// `DATA/ports/` (named by the group's pid, holding its leader's start
/// time): a node started after a `kill -9` of its predecessor stops the
/// commands that one left running, before it boots anything.
///
/// Thread-safe: each call touches only its own file.
package enum PortRecords {
    package static func directory(_ data: String) -> String { data + "/ports" }

    /// Notes a port's process group (its leader's pid).
    package static func record(_ pid: Int32, data: String) {
        guard let started = startTime(of: pid) else { return }
        _ = mkdir(directory(data), 0o700)
        let path = directory(data) + "/\(pid)"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { return }
        let text = Array("\(started)\n".utf8)
        _ = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    /// Forgets a port's process group (it was stopped).
    package static func forget(_ pid: Int32, data: String) {
        unlink(directory(data) + "/\(pid)")
    }

    /// Kills the process groups left by a previous run whose leader is still
    /// the process recorded (same start time: not a pid reused since), and
    /// forgets every record. Returns how many groups it killed.
    @discardableResult
    package static func stopLeftovers(data: String) -> Int {
        guard let dir = opendir(directory(data)) else { return 0 }
        defer { closedir(dir) }
        var killed = 0
        while let entry = readdir(dir) {
            let name = DirectoryEntry.name(entry)
            guard let pid = Int32(name), pid > 1 else { continue }
            let path = directory(data) + "/" + name
            if let recorded = readText(path).flatMap({ $0.split(separator: "\n").first }).flatMap({ UInt64($0) }),
               startTime(of: pid) == recorded, kill(-pid, SIGKILL) == 0 {
                killed += 1
                reportProblem("stopped the port process group \(pid) a previous run of this node left running")
            }
            unlink(path)
        }
        return killed
    }

    /// Field 22 of `/proc/PID/stat`: the process's start time in clock ticks since boot.
    package static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    private static func readText(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
