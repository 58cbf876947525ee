package notify

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
)

// Schema is the JSON Schema (2020-12) of the json format: an Event.
//
//go:embed event.schema.json
var Schema []byte

// Payload renders ev as a webhook of the format takes it (spec.Format…; ""
// is json).
func Payload(format string, ev Event) ([]byte, error) {
	switch format {
	case "", spec.FormatJSON:
		return json.Marshal(ev)
	case spec.FormatSlack:
		return json.Marshal(slackMessage(ev))
	case spec.FormatTeams:
		return json.Marshal(teamsCard(ev))
	}
	return nil, fmt.Errorf("unknown notification format %q", format)
}

// facts are the event's details as name and value, in the order people read
// them.
func facts(ev Event) [][2]string {
	out := [][2]string{{"Product", ev.Product}, {"Run", ev.Run.WorkflowID}}
	add := func(name, value string) {
		if value != "" {
			out = append(out, [2]string{name, value})
		}
	}
	add("Stage", ev.Stage)
	add("Version", ev.Version)
	add("Approvers", strings.Join(ev.Approvers, ", "))
	if ev.Deadline != nil {
		add("Deadline", ev.Deadline.UTC().Format(time.RFC3339))
	}
	add("Requester", ev.Requester)
	add("Grant", ev.GrantID)
	add("Reason", ev.Reason)
	for _, d := range ev.Decisions {
		v := d.Principal + " " + d.Decision + "d"
		if d.Comment != "" {
			v += ": " + d.Comment
		}
		add("Decision", v)
	}
	for _, c := range ev.Changes {
		add("Change ("+c.Severity+")", c.Path+": "+c.Message)
	}
	for _, i := range ev.Impact {
		add("Impact", i)
	}
	return out
}

// slackMessage is a Slack incoming-webhook message: text for notifications
// and clients without blocks, and Block Kit blocks.
func slackMessage(ev Event) map[string]any {
	var fields strings.Builder
	for _, f := range facts(ev) {
		fmt.Fprintf(&fields, "*%s:* %s\n", f[0], slackEscape(f[1]))
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(ev.Title, 150)}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(slackEscape(ev.Text), 3000)}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(fields.String(), 3000)}},
	}
	if ev.Action != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": clip(slackEscape(ev.Action), 3000)}}})
	}
	if ev.Link != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": linkName(ev.Kind)}, "url": ev.Link, "action_id": "open-" + ev.Kind,
		}}})
	}
	text := ev.Title + ": " + ev.Text
	if ev.Link != "" {
		text += " <" + ev.Link + "|" + linkName(ev.Kind) + ">"
	}
	return map[string]any{"text": text, "blocks": blocks}
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// teamsCard is an Office 365 connector MessageCard, which Teams incoming
// webhooks and workflows take.
func teamsCard(ev Event) map[string]any {
	var fs []map[string]string
	for _, f := range facts(ev) {
		fs = append(fs, map[string]string{"name": f[0], "value": f[1]})
	}
	text := ev.Text
	if ev.Action != "" {
		text += "\n\n" + ev.Action
	}
	card := map[string]any{
		"@type": "MessageCard", "@context": "https://schema.org/extensions",
		"summary": ev.Title, "title": ev.Title, "text": text, "themeColor": themeColor(ev.Kind),
		"sections": []map[string]any{{"facts": fs}},
	}
	if ev.Link != "" {
		card["potentialAction"] = []map[string]any{{"@type": "OpenUri", "name": linkName(ev.Kind),
			"targets": []map[string]string{{"os": "default", "uri": ev.Link}}}}
	}
	return card
}

func themeColor(kind Kind) string {
	switch kind {
	case spec.EventFailed, spec.EventExpired, spec.EventBreakingChangeProposed:
		return "C4314B"
	case spec.EventPublished, spec.EventAccessGranted:
		return "2EB886"
	}
	return "0078D7"
}

func linkName(kind Kind) string {
	switch kind {
	case spec.EventApprovalRequested, spec.EventApprovalEscalated:
		return "Open in the inbox"
	case spec.EventFailed, spec.EventExpired:
		return "See the runs"
	}
	return "Open the product"
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Mail renders ev as an RFC 5322 message from from to the addresses, plain
// text in quoted-printable UTF-8.
func Mail(from string, to []string, ev Event) []byte {
	var body bytes.Buffer
	body.WriteString(ev.Text + "\n\n")
	if ev.Action != "" {
		body.WriteString(ev.Action + "\n\n")
	}
	if ev.Link != "" {
		body.WriteString(linkName(ev.Kind) + ": " + ev.Link + "\n\n")
	}
	for _, f := range facts(ev) {
		body.WriteString(f[0] + ": " + f[1] + "\n")
	}
	body.WriteString("\nEvent " + ev.ID + " (" + ev.Kind + ")\n")

	var msg bytes.Buffer
	oneLine := strings.NewReplacer("\r", " ", "\n", " ")
	for _, h := range [][2]string{
		{"From", from},
		{"To", strings.Join(to, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", "[meshflow] "+ev.Title)},
		{"Date", ev.At.UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + ev.ID + "@meshflow>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"X-Meshflow-Event", ev.Kind},
	} {
		msg.WriteString(h[0] + ": " + oneLine.Replace(h[1]) + "\r\n")
	}
	msg.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&msg)
	_, _ = qp.Write([]byte(strings.ReplaceAll(body.String(), "\n", "\r\n")))
	_ = qp.Close()
	return msg.Bytes()
}
