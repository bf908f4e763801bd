import Foundation

/// CPU time and resident memory of a process group (an instance and every process it started), from procfs.
public struct ProcessTreeStats: Sendable, Equatable {
    /// User + system CPU seconds of every live process in the group.
    public var cpuSeconds: Double
    public var rssBytes: Double
    public var processes: Int

    static let clockTicks = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    /// The groups led by `groupIds` (instances are started in their own session, so their group id is their
    /// pid), in one pass over `/proc`. A group with no live process is absent.
    public static func sample(groups groupIds: Set<Int32>) -> [Int32: ProcessTreeStats] {
        guard !groupIds.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [:] }
        var totals: [Int32: ProcessTreeStats] = [:]
        for entry in entries where entry.first?.isNumber == true {
            guard let text = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let fields = parse(stat: text), groupIds.contains(fields.group) else { continue }
            var total = totals[fields.group] ?? ProcessTreeStats(cpuSeconds: 0, rssBytes: 0, processes: 0)
            total.cpuSeconds += fields.cpuTicks / clockTicks
            total.rssBytes += fields.rssPages * pageSize
            total.processes += 1
            totals[fields.group] = total
        }
        return totals
    }

    /// `/proc/PID/stat`: the fields after the parenthesised command name (which may contain spaces).
    static func parse(stat text: String) -> (group: Int32, cpuTicks: Double, rssPages: Double)? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ")": state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21).
        // Children's time counts too, so a worker that exits between samples does not take its CPU time with it.
        guard fields.count > 21, let group = Int32(fields[2]), let user = Double(fields[11]), let system = Double(fields[12]),
              let childUser = Double(fields[13]), let childSystem = Double(fields[14]), let rss = Double(fields[21]) else { return nil }
        return (group, user + system + childUser + childSystem, rss)
    }
}
