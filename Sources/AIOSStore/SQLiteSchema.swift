import GRDB

/// The SQLite schema, as numbered migrations. Add a migration; never edit a released one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-registries") { db in
            try db.create(table: "components") { table in
                table.primaryKey("uri", .text)
                table.column("type", .text).notNull()
                table.column("name", .text).notNull()
                table.column("version", .text).notNull()
                table.column("release_tag", .text).notNull()
                table.column("document", .text).notNull()
                table.column("created_at", .double).notNull()
            }
            try db.create(table: "clusters") { table in
                table.primaryKey("id", .text)
                table.column("document", .text).notNull()
                table.column("created_at", .double).notNull()
                table.column("updated_at", .double).notNull()
            }
            try db.create(table: "nodes") { table in
                table.column("cluster_id", .text).notNull().references("clusters", onDelete: .cascade)
                table.column("id", .text).notNull()
                table.column("position", .integer).notNull()
                table.column("document", .text).notNull()
                table.primaryKey(["cluster_id", "id"])
            }
            try db.create(table: "blocks") { table in
                table.primaryKey("id", .text)
                table.column("component_uri", .text).notNull()
                table.column("spec", .text).notNull()
                table.column("resolved", .text).notNull()
                table.column("min_instances", .integer).notNull()
                table.column("max_instances", .integer).notNull()
                table.column("desired_instances", .integer).notNull()
                table.column("phase", .text).notNull()
                table.column("reason", .text)
                table.column("placement", .text).notNull()
                table.column("instances", .text).notNull()
                table.column("created_at", .double).notNull()
                table.column("updated_at", .double).notNull()
            }
            try db.create(table: "block_events") { table in
                table.autoIncrementedPrimaryKey("seq")
                table.column("block_id", .text).notNull().indexed()
                table.column("time", .double).notNull()
                table.column("type", .text).notNull()
                table.column("message", .text).notNull()
            }
            try db.create(table: "policies") { table in
                table.primaryKey("uri", .text)
                table.column("kind", .text).notNull()
                table.column("document", .text).notNull()
                table.column("created_at", .double).notNull()
            }
            try db.create(table: "tasks") { table in
                table.primaryKey("id", .text)
                table.column("action", .text).notNull()
                table.column("subject", .text).notNull()
                table.column("status", .text).notNull()
                table.column("result", .text).notNull()
                table.column("created_at", .double).notNull().indexed()
                table.column("updated_at", .double).notNull()
            }
        }
        migrator.registerMigration("v2-placement") { db in
            try db.alter(table: "blocks") { table in
                table.add(column: "placement_report", .text).notNull().defaults(to: "null")
            }
            try db.create(table: "reservations") { table in
                table.column("block_id", .text).notNull().indexed()
                table.column("instance_id", .text).notNull()
                table.column("cluster_id", .text).notNull()
                table.column("node_id", .text).notNull()
                table.column("gpus", .text).notNull()
                table.column("gpu_memory", .double).notNull()
                table.column("cpus", .double).notNull()
                table.column("memory", .double).notNull()
                table.primaryKey(["block_id", "instance_id"])
            }
        }
        migrator.registerMigration("v3-vdags") { db in
            try db.create(table: "vdags") { table in
                table.primaryKey("uri", .text)
                table.column("document", .text).notNull()
                table.column("assignment", .text).notNull()
                table.column("created_at", .double).notNull()
            }
            try db.create(table: "vdag_controllers") { table in
                table.primaryKey("id", .text)
                table.column("vdag_uri", .text).notNull().indexed()
                table.column("cluster_id", .text).notNull()
                table.column("config", .text).notNull()
                table.column("created_at", .double).notNull()
            }
        }
        migrator.registerMigration("v4-split-tasks") { db in
            try db.create(table: "split_tasks") { table in
                table.primaryKey("id", .text)
                table.column("status", .text).notNull()
                table.column("progress", .double).notNull()
                table.column("message", .text).notNull()
                table.column("request", .text).notNull()
                table.column("plan", .text).notNull()
                table.column("error", .text)
                table.column("deployment", .text).notNull()
                table.column("created_at", .double).notNull().indexed()
                table.column("updated_at", .double).notNull()
            }
        }
        migrator.registerMigration("v5-container-registries") { db in
            try db.create(table: "container_registries") { table in
                table.primaryKey("id", .text)
                table.column("url", .text).notNull()
                table.column("tls", .boolean).notNull()
                table.column("username", .text)
                table.column("sealed_password", .blob)
                table.column("created_at", .double).notNull()
            }
        }
        migrator.registerMigration("v6-access-tokens") { db in
            try db.create(table: "access_tokens") { table in
                table.primaryKey("id", .text)
                table.column("name", .text).notNull()
                table.column("scopes", .text).notNull()
                table.column("cluster_id", .text)
                table.column("secret_hash", .text).notNull()
                table.column("created_at", .double).notNull()
                table.column("expires_at", .double)
            }
        }
        return migrator
    }
}
