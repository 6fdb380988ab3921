import Foundation
import Shop

// The shop's dev server: GET /health answers "ok"; GET /total?items=tea,cake
// answers the total in cents with the discount of the config file.
// Usage: shop-server --port PORT --config FILE
let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}
let port = UInt16(option("--port", "8090")) ?? 8090
let configPath = option("--config", "config/dev.json")
let config = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath)))) as? [String: Any] ?? [:]
let discount = config["discount"] as? Int ?? 0

let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
var yes: Int32 = 1
setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
var address = sockaddr_in()
address.sin_family = sa_family_t(AF_INET)
address.sin_port = port.bigEndian
address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
}
guard bound == 0, listen(listener, 16) == 0 else {
    FileHandle.standardError.write(Data("shop-server: cannot listen on 127.0.0.1:\(port)\n".utf8))
    exit(1)
}
print("shop-server listening on 127.0.0.1:\(port), discount \(discount)%")
fflush(nil)

while true {
    let connection = accept(listener, nil, nil)
    guard connection >= 0 else { continue }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = read(connection, &buffer, buffer.count)
    let request = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
    let target = request.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
    var status = "200 OK"
    var body = "ok\n"
    if target.hasPrefix("/total") {
        let names = target.split(separator: "=").last.map { $0.split(separator: ",").map(String.init) } ?? []
        let items = names.compactMap { name in catalogue.first { $0.name == name } }
        body = "\(total(items, discount: discount))\n"
    } else if target != "/health" {
        status = "404 Not Found"
        body = "no such page\n"
    }
    let answer = "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    _ = answer.withCString { write(connection, $0, strlen($0)) }
    close(connection)
}
