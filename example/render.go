package main

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"

	"github.com/labstack/echo/v4"
)

// assets holds the templates and the style sheet, so the binary is the
// whole app.
//
//go:embed templates static
var assets embed.FS

// pageNames are the pages; each is templates/NAME.html, which defines
// "content", rendered inside templates/layout.html.
var pageNames = []string{"home", "login", "prefs", "where", "devices", "error"}

// pages maps a page name to its template.
type pages map[string]*template.Template

func parsePages() (pages, error) {
	out := make(pages, len(pageNames))
	for _, name := range pageNames {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what the layout shows; Data is the page's own.
type page struct {
	Title string
	Theme string    // a value of themes, "" for the default
	User  *userView // nil when nobody is logged in
	CSRF  string    // the CSRF token, on pages with a form
	Flash string    // a message from the previous request
	Error string
	Wide  bool // the page has wide tables: let it use the window's width
	Data  any
}

// render executes the page into a buffer first, so a template error is an
// error response instead of half a page.
func (a *app) render(c echo.Context, code int, name string, p page) error {
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(code, buf.Bytes())
}
