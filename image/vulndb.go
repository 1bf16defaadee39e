package image

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// VulnDB is a local vulnerability database in the OSV format
// (https://ossf.github.io/osv-schema/): a directory of entry files
// (`*.json`, one vulnerability each) and of the zip archives osv.dev
// publishes per ecosystem (`Go/all.zip`, `Debian/all.zip`), as
// `osv-scanner --offline` keeps them. Nothing is downloaded: whoever runs
// the worker refreshes the directory.
type VulnDB struct {
	// byPackage indexes entries by "ecosystem/name", the ecosystem without
	// its release ("Debian:12" is "debian").
	byPackage map[string][]*osvEntry
	// Entries is how many vulnerabilities were read.
	Entries int
}

// osvEntry is the part of an OSV entry a scan reads.
type osvEntry struct {
	ID         string        `json:"id"`
	Aliases    []string      `json:"aliases"`
	Summary    string        `json:"summary"`
	Withdrawn  string        `json:"withdrawn"`
	Severity   []osvSeverity `json:"severity"`
	Affected   []osvAffected `json:"affected"`
	DBSpecific struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges            []osvRange    `json:"ranges"`
	Versions          []string      `json:"versions"`
	Severity          []osvSeverity `json:"severity"`
	EcosystemSpecific struct {
		Severity string `json:"severity"`
	} `json:"ecosystem_specific"`
	DBSpecific struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

type osvEvent struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
}

// maxOSVEntry bounds one entry file.
const maxOSVEntry = 4 << 20

// LoadVulnDB reads every entry under dir. An unreadable or malformed file
// is an error naming it: a scan against half a database would pass images
// it should not.
func LoadVulnDB(dir string) (*VulnDB, error) {
	db := &VulnDB{byPackage: map[string][]*osvEntry{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case strings.HasSuffix(path, ".json"):
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return db.add(path, f)
		case strings.HasSuffix(path, ".zip"):
			return db.addZip(path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vulnerability database %s: %w", dir, err)
	}
	return db, nil
}

func (db *VulnDB) addZip(path string) error {
	z, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer z.Close()
	for _, f := range z.File {
		if !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		r, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		err = db.add(path+"!"+f.Name, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (db *VulnDB) add(name string, r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, maxOSVEntry+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxOSVEntry {
		return fmt.Errorf("%s: an entry over %d MiB", name, maxOSVEntry>>20)
	}
	var e osvEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("%s: not an OSV entry: %w", name, err)
	}
	if e.ID == "" {
		return fmt.Errorf("%s: an OSV entry without an id", name)
	}
	if e.Withdrawn != "" {
		return nil
	}
	seen := map[string]bool{}
	for _, a := range e.Affected {
		key := osvKey(a.Package.Ecosystem, a.Package.Name)
		if !seen[key] {
			seen[key] = true
			db.byPackage[key] = append(db.byPackage[key], &e)
		}
	}
	db.Entries++
	return nil
}

// osvKey is the index key of a package: its ecosystem without the release,
// lower case, and its name.
func osvKey(ecosystem, name string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return strings.ToLower(base) + "/" + name
}

// cachedDBs keeps the databases CachedVulnDB read, by directory.
var cachedDBs = struct {
	sync.Mutex
	m map[string]cachedDB
}{m: map[string]cachedDB{}}

type cachedDB struct {
	fingerprint string
	db          *VulnDB
}

// CachedVulnDB is LoadVulnDB that reads dir again only when a file in it
// changed (appeared, went, or got another size or modification time): a
// full osv.dev export is tens of thousands of entries, too many to parse
// at every promote.
func CachedVulnDB(dir string) (*VulnDB, error) {
	fp, err := fingerprint(dir)
	if err != nil {
		return nil, fmt.Errorf("vulnerability database %s: %w", dir, err)
	}
	cachedDBs.Lock()
	defer cachedDBs.Unlock()
	if c, ok := cachedDBs.m[dir]; ok && c.fingerprint == fp {
		return c.db, nil
	}
	db, err := LoadVulnDB(dir)
	if err != nil {
		return nil, err
	}
	cachedDBs.m[dir] = cachedDB{fingerprint: fp, db: db}
	return db, nil
}

// fingerprint names every file under dir with its size and modification
// time.
func fingerprint(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", path, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return b.String(), err
}
