import AIOSModel
import Foundation
import XCTest

/// Half-sent requests are cut after the idle timeout and cannot stall the server; oversized bodies get 413.
final class ConnectionLimitsTests: XCTestCase {
    func testHalfSentRequestsAreClosedAndHealthzStaysResponsive() async throws {
        let directory = temporaryDirectory("slowloris")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory, arguments: ["--http-idle-timeout", "2"])
        let port = try XCTUnwrap(URL(string: platform.url)?.port)
        let rssBefore = residentKB(platform.process.processIdentifier)

        // 300 connections stalled in their headers, 300 stalled in their bodies.
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for index in 0..<600 {
            let fd = try connectLoopback(port: port)
            sockets.append(fd)
            let partial = index % 2 == 0
                ? "GET /api/blocks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor"
                : "POST /api/createBlock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"blockId\": "
            _ = partial.withCString { send(fd, $0, strlen($0), 0) }
        }
        let started = Date()
        let health = try await platform.get("/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "healthz stalled behind half-sent requests")

        // After the idle timeout every stalled connection has been closed by the server.
        try await Task.sleep(for: .seconds(4))
        var open = 0
        for fd in sockets {
            var byte: UInt8 = 0
            let got = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { open += 1 }
        }
        XCTAssertEqual(open, 0, "\(open) half-sent requests are still held open")
        let rssAfter = residentKB(platform.process.processIdentifier)
        XCTAssertLessThan(rssAfter - rssBefore, 100_000, "RSS grew from \(rssBefore) kB to \(rssAfter) kB")
    }

    func testOversizedBodiesAre413() async throws {
        let directory = temporaryDirectory("oversized")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory)
        let big = String(repeating: "x", count: 9 * 1024 * 1024)
        let management = try await platform.post("/api/createBlock", "{\"blockId\": \"\(big)\"}")
        XCTAssertEqual(management.status, 413, management.body.jsonString())
        XCTAssertEqual(management.body["error"]?["code"]?.stringValue, "payload_too_large")
        let huge = String(repeating: "y", count: 65 * 1024 * 1024)
        let inference = try await platform.post("/v1/infer", "{\"block_id\": \"b\", \"data\": \"\(huge)\"}")
        XCTAssertEqual(inference.status, 413, inference.body.jsonString())
        let health = try await platform.get("/healthz")
        XCTAssertEqual(health.status, 200)
    }

    private func connectLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PlatformError("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw PlatformError("connect: \(errno)") }
        return fd
    }

    private func residentKB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
