package generators

import (
	"fmt"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary/artifact"
)

// report is the text shared by the HTML, DOCX, XLSX and PDF documents.
type report struct {
	Title      string
	Company    string
	Author     string
	Editor     string
	Contact    string
	Status     string
	Date       time.Time
	Created    time.Time
	Paragraphs []string
	Header     []string
	Rows       [][]string
}

var (
	reportTitles = []string{
		"Q%d Operations Review", "Q%d Infrastructure Cost Review", "Q%d Incident Summary",
		"Q%d Vendor Access Audit", "Q%d Capacity Planning",
	}
	reportCompanies = []string{"Northwind Logistics", "Bluefield Health", "Corvid Systems", "Halden Retail Group", "Meridian Freight"}
	firstNames      = []string{"Anna", "David", "Maria", "James", "Laura", "Peter", "Sofia", "Daniel", "Emma", "Thomas"}
	lastNames       = []string{"Keller", "Novak", "Ortiz", "Brennan", "Lindqvist", "Moretti", "Hughes", "Varga", "Schmidt", "Okafor"}
	reportStatus    = []string{"Draft for internal review", "Confidential, internal distribution only", "Final draft, do not forward"}
	regions         = []string{"us-east", "us-west", "eu-central", "eu-west", "ap-south", "ap-southeast"}
)

// newReport derives the document text from the slug.
func newReport(tc artifact.Context) report {
	date := stamp(tc, "report-date")
	quarter := (int(date.Month())-1)/3 + 1
	person := func(label string) string {
		return pick(tc, label+"/first", firstNames) + " " + pick(tc, label+"/last", lastNames)
	}
	company := pick(tc, "report-company", reportCompanies)
	author := person("report-author")
	domain := strings.ToLower(strings.Fields(company)[0]) + ".com"

	r := report{
		Title:   fmt.Sprintf(pick(tc, "report-title", reportTitles), quarter),
		Company: company,
		Author:  author,
		Editor:  person("report-editor"),
		Contact: strings.ToLower(strings.ReplaceAll(author, " ", ".")) + "@" + domain,
		Status:  pick(tc, "report-status", reportStatus),
		Date:    date,
		Created: date.AddDate(0, 0, -1-number(tc, "report-created", 20)),
		Paragraphs: []string{
			"This review covers production operations for the quarter: incident volume, time to recovery and open remediation items per region.",
			"Figures come from the on-call tracker and were reconciled with the monitoring exports on the last business day of the quarter.",
			"Regions with more than fifteen incidents are flagged for a follow-up review with the platform team.",
		},
		Header: []string{"Region", "Incidents", "MTTR (h)", "Open items"},
	}

	start := number(tc, "report-region", len(regions))
	for i := range 4 {
		label := fmt.Sprintf("row%d", i)
		r.Rows = append(r.Rows, []string{
			regions[(start+i)%len(regions)],
			fmt.Sprint(3 + number(tc, label+"/inc", 25)),
			fmt.Sprintf("%d.%d", 1+number(tc, label+"/h", 6), number(tc, label+"/d", 10)),
			fmt.Sprint(number(tc, label+"/open", 7)),
		})
	}
	return r
}
