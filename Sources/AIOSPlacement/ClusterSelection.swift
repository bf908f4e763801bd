import AIOSModel
import AIOSPolicy
import AIOSQuery

/// Which clusters may host a block, from the `clusterAllocator` policy: `parameters.filter.clusterQuery` over the
/// cluster document, `parameters.filter.clusterMetricsQuery` over the cluster metrics document, and
/// `settings.max_candidates` (default 10) ranked candidates tried in order.
public struct ClusterSelection: Sendable {
    public var clusterQuery: FilterQuery
    public var metricsQuery: FilterQuery?
    public var maxCandidates: Int

    public init(clusterQuery: FilterQuery = .everything, metricsQuery: FilterQuery? = nil, maxCandidates: Int = 10) {
        self.clusterQuery = clusterQuery
        self.metricsQuery = metricsQuery
        self.maxCandidates = maxCandidates
    }

    /// Parses and type-checks the rule. `clusterSamples` and `metricsSamples` are the current documents, so a
    /// variable that exists only in them (a custom metadata key) is known too.
    public init(rule: PolicyRule?, clusterSamples: [JSONValue], metricsSamples: [JSONValue]) throws(APIError) {
        guard let rule else {
            self.init()
            return
        }
        var errors: [FieldError] = []
        var clusterQuery = FilterQuery.everything
        var metricsQuery: FilterQuery?
        let filterPath = rule.location / "parameters" / "filter"
        switch rule.parameters["filter"] {
        case nil, .null?:
            break
        case .object(let filter)?:
            if let query = filter["clusterQuery"], !query.isNull {
                do {
                    clusterQuery = try FilterQuery.parse(query, at: filterPath / "clusterQuery", schema: .cluster, samples: clusterSamples)
                } catch {
                    errors += error.fields
                }
            }
            if let query = filter["clusterMetricsQuery"], !query.isNull {
                do {
                    metricsQuery = try FilterQuery.parse(query, at: filterPath / "clusterMetricsQuery", schema: .clusterMetrics, samples: metricsSamples)
                } catch {
                    errors += error.fields
                }
            }
        case let other?:
            errors.append(FieldError(path: filterPath, message: "expected {clusterQuery, clusterMetricsQuery}, got \(other.typeName)"))
        }
        var reader = FieldReader()
        let maxCandidates = reader.int(rule.settings, "max_candidates", at: rule.location / "settings", minimum: 1)
            ?? reader.int(rule.parameters, "max_candidates", at: rule.location / "parameters", minimum: 1) ?? 10
        errors += reader.errors
        if !errors.isEmpty { throw APIError.validation(errors) }
        self.init(clusterQuery: clusterQuery, metricsQuery: metricsQuery, maxCandidates: maxCandidates)
    }
}
