package api

import (
	"net/http"

	"github.com/decnet/decnet/internal/auth"
)

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Username string `json:"username" validate:"required,max=128"`
	Password string `json:"password" validate:"required,max=72"`
}

// TokenResponse carries a new access token.
type TokenResponse struct {
	AccessToken        string `json:"access_token"`
	TokenType          string `json:"token_type"`
	ExpiresIn          int    `json:"expires_in"`
	MustChangePassword bool   `json:"must_change_password"`
}

// PasswordChangeRequest is the body of POST /api/v1/auth/password.
type PasswordChangeRequest struct {
	CurrentPassword string `json:"current_password" validate:"required,max=72"`
	NewPassword     string `json:"new_password" validate:"required,min=12,max=72"`
}

// TicketResponse carries a stream ticket.
type TicketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

func (s *Server) authGroup() RouteGroup {
	return RouteGroup{Name: "auth", Routes: []Route{
		{
			Method: "POST", Path: "/api/v1/auth/login", Role: Public,
			Summary: "Exchange a username and password for an access token (HS256 JWT). " +
				"Ten failures within five minutes for one username or one client address answer 429.",
			Body: LoginRequest{}, Response: TokenResponse{},
			Errors: []int{http.StatusUnauthorized, http.StatusTooManyRequests},
			Handle: s.handleLogin,
		},
		{
			Method: "GET", Path: "/api/v1/auth/me", Role: Viewer, AllowMustChange: true,
			Summary: "The authenticated user.", Response: auth.Principal{},
			Handle: func(c *Call) (any, error) { return c.User, nil },
		},
		{
			Method: "POST", Path: "/api/v1/auth/password", Role: Viewer, AllowMustChange: true,
			Summary: "Change the caller's password. Every earlier token of the user stops working; the response carries a new one.",
			Body:    PasswordChangeRequest{}, Response: TokenResponse{},
			Handle: s.handlePasswordChange,
		},
		{
			Method: "POST", Path: "/api/v1/auth/logout", Role: Viewer, AllowMustChange: true,
			Summary: "Revoke the caller's token.", Status: http.StatusNoContent,
			Handle: func(c *Call) (any, error) { return nil, s.deps.Auth.Logout(c.R.Context(), c.User) },
		},
		{
			Method: "POST", Path: "/api/v1/auth/stream-ticket", Role: Viewer,
			Summary:  "Issue a single-use ticket, valid 60 seconds, that opens one event stream through ?ticket=.",
			Response: TicketResponse{},
			Handle: func(c *Call) (any, error) {
				t, err := s.deps.Auth.Tickets().Issue(c.User.UUID)
				if err != nil {
					return nil, &Error{Status: http.StatusServiceUnavailable, Detail: "too many outstanding tickets, try again later", Cause: err}
				}
				return TicketResponse{Ticket: t, ExpiresIn: int(auth.TicketTTL.Seconds())}, nil
			},
		},
	}}
}

func (s *Server) handleLogin(c *Call) (any, error) {
	req := c.Body.(*LoginRequest)
	res, err := s.deps.Auth.Login(c.R.Context(), req.Username, req.Password, clientAddr(c.R, s.cfg.TrustedProxies))
	if err != nil {
		return nil, err
	}
	return s.tokenResponse(res.Token, res.MustChangePassword), nil
}

func (s *Server) handlePasswordChange(c *Call) (any, error) {
	req := c.Body.(*PasswordChangeRequest)
	if err := s.deps.Auth.ChangePassword(c.R.Context(), c.User.UUID, req.CurrentPassword, req.NewPassword); err != nil {
		return nil, err
	}
	token, _, err := s.deps.Auth.Tokens().Issue(c.User.UUID)
	if err != nil {
		return nil, err
	}
	return s.tokenResponse(token, false), nil
}

func (s *Server) tokenResponse(token string, mustChange bool) TokenResponse {
	return TokenResponse{
		AccessToken:        token,
		TokenType:          "bearer",
		ExpiresIn:          int(s.deps.Auth.Tokens().TTL().Seconds()),
		MustChangePassword: mustChange,
	}
}
