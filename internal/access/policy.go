package access

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// policyDocument is an S3 bucket policy.
type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition"`
}

// S3Policy exports grants as an S3 bucket policy for a bucket whose products live
// under prefix ("" or "mesh/"): for every grant that is not revoked, one
// statement allows s3:GetObject on the product's objects and one allows
// s3:ListBucket on the product's prefix, both until the grant's expiry (an
// aws:CurrentTime condition), so that a policy applied late still ends on time.
// principalARN maps a meshflow principal to its IAM ARN. Grants are written in
// order of product, principal and ID, so the same grants give the same document.
func S3Policy(grants []Grant, bucket, prefix string, principalARN func(principal string) string) ([]byte, error) {
	if bucket == "" {
		return nil, fmt.Errorf("s3 policy: no bucket")
	}
	if principalARN == nil {
		return nil, fmt.Errorf("s3 policy: no mapping from principals to ARNs")
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	grants = slices.Clone(grants)
	slices.SortFunc(grants, func(a, b Grant) int {
		if c := strings.Compare(a.Product, b.Product); c != 0 {
			return c
		}
		if c := strings.Compare(a.Principal, b.Principal); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	doc := policyDocument{Version: "2012-10-17", Statement: []statement{}}
	for _, g := range grants {
		if g.GrantedAt.IsZero() || !g.RevokedAt.IsZero() {
			continue
		}
		if _, _, ok := SplitRef(g.Product); !ok {
			return nil, fmt.Errorf("s3 policy: grant %s: product %q is not <domain>/<product>", g.ID, g.Product)
		}
		arn := principalARN(g.Principal)
		if arn == "" {
			return nil, fmt.Errorf("s3 policy: grant %s: no ARN for principal %q", g.ID, g.Principal)
		}
		until := map[string]string{"aws:CurrentTime": g.ExpiresAt.UTC().Format(time.RFC3339)}
		sid := sidPart(g.ID)
		doc.Statement = append(doc.Statement,
			statement{
				Sid: "Read" + sid, Effect: "Allow", Principal: map[string]string{"AWS": arn},
				Action:    "s3:GetObject",
				Resource:  fmt.Sprintf("arn:aws:s3:::%s/%s%s/*", bucket, prefix, g.Product),
				Condition: map[string]map[string]string{"DateLessThan": until},
			},
			statement{
				Sid: "List" + sid, Effect: "Allow", Principal: map[string]string{"AWS": arn},
				Action:   "s3:ListBucket",
				Resource: "arn:aws:s3:::" + bucket,
				Condition: map[string]map[string]string{
					"DateLessThan": until,
					"StringLike":   {"s3:prefix": prefix + g.Product + "/*"},
				},
			})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("s3 policy: %w", err)
	}
	return append(b, '\n'), nil
}

// sidPart keeps the letters and digits of a grant ID: statement IDs allow no more.
func sidPart(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, id)
}
