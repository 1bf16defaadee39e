package devserver

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// defaultRetention is Temporal's own.
const defaultRetention = 24 * time.Hour

func archiveURI(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return "file://" + abs
}

// settle writes o's retention and archival into a namespace's config and
// reports whether that changed it.
func settle(c *persistencespb.NamespaceConfig, o Options) bool {
	retention := o.retention()
	state, uri := enumspb.ARCHIVAL_STATE_DISABLED, ""
	if o.ArchiveDir != "" {
		state, uri = enumspb.ARCHIVAL_STATE_ENABLED, archiveURI(o.ArchiveDir)
	}
	unset := uri != "" && c.GetHistoryArchivalUri() == ""
	if c.GetRetention().AsDuration() == retention && c.GetHistoryArchivalState() == state && !unset {
		return false
	}
	c.Retention, c.HistoryArchivalState = durationpb.New(retention), state
	if unset {
		// (set once: Temporal never moves a namespace's archive, where the
		// histories of older runs are)
		c.HistoryArchivalUri = uri
	}
	return true
}

// ensureNamespace registers o's namespace in the store unless it is there,
// with o's retention and archival, and brings an existing one's to them.
// The server is not running yet, so it reads the namespace fresh.
func ensureNamespace(conf *config.SQL, o Options) error {
	db, err := sql.NewSQLDB(sqlplugin.DbKindUnknown, conf, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", o.Namespace, err)
	}
	defer func() { _ = db.Close() }()
	ctx := context.Background()
	name := o.Namespace
	rows, err := db.SelectFromNamespace(ctx, sqlplugin.NamespaceFilter{Name: &name})
	if err != nil || len(rows) == 0 {
		ns, err := sqliteschema.NewNamespaceConfig("active", name, false, nil)
		if err != nil {
			return fmt.Errorf("namespace %q: %w", name, err)
		}
		settle(ns.Detail.Config, o)
		if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
			return fmt.Errorf("create namespace %q: %w", name, err)
		}
		return nil
	}
	row := rows[0]
	ser := serialization.NewSerializer()
	encoding, err := enumspb.EncodingTypeFromString(row.DataEncoding)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", name, err)
	}
	detail, err := ser.NamespaceDetailFromBlob(&commonpb.DataBlob{Data: row.Data, EncodingType: encoding})
	if err != nil {
		return fmt.Errorf("namespace %q: %w", name, err)
	}
	if !settle(detail.Config, o) {
		return nil
	}
	detail.ConfigVersion++
	blob, err := ser.NamespaceDetailToBlob(detail)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return err
	}
	md, err := tx.LockNamespaceMetadata(ctx)
	if err == nil {
		_, err = tx.UpdateNamespace(ctx, &sqlplugin.NamespaceRow{ID: row.ID, Name: row.Name, Data: blob.GetData(),
			DataEncoding: blob.GetEncodingType().String(), IsGlobal: row.IsGlobal, NotificationVersion: md.NotificationVersion})
	}
	if err == nil {
		_, err = tx.UpdateNamespaceMetadata(ctx, &sqlplugin.NamespaceMetadataRow{NotificationVersion: md.NotificationVersion})
	}
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("set namespace %q's retention and archival: %w", name, err)
	}
	return tx.Commit()
}
