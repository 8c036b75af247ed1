package api

import (
	"net/http"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/store"
)

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Username           string `json:"username" validate:"required,max=64,pattern=^[A-Za-z0-9_.@-]+$"`
	Password           string `json:"password" validate:"required,min=12,max=72"`
	Role               string `json:"role" validate:"required,enum=admin|viewer"`
	MustChangePassword bool   `json:"must_change_password,omitempty"`
}

// UpdateUserRequest is the body of PATCH /api/v1/users/{uuid}; absent
// fields stay as they are.
type UpdateUserRequest struct {
	Role     *string `json:"role,omitempty" validate:"enum=admin|viewer"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// ResetPasswordRequest is the body of POST /api/v1/users/{uuid}/password.
type ResetPasswordRequest struct {
	Password           string `json:"password" validate:"required,min=12,max=72"`
	MustChangePassword bool   `json:"must_change_password"`
}

func (s *Server) usersGroup() RouteGroup {
	userConflicts := []int{http.StatusConflict}
	return RouteGroup{Name: "users", Routes: []Route{
		{
			Method: "GET", Path: "/api/v1/users", Role: Admin, Summary: "List users.",
			Query: pageParams, Response: Page[store.User]{},
			Handle: func(c *Call) (any, error) {
				users, total, err := s.deps.Store.ListUsers(c.R.Context(), c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(users, total, c.Page()), nil
			},
		},
		{
			Method: "POST", Path: "/api/v1/users", Role: Admin, Summary: "Create a user.",
			Body: CreateUserRequest{}, Response: store.User{}, Status: http.StatusCreated, Errors: userConflicts,
			Handle: s.handleCreateUser,
		},
		{
			Method: "GET", Path: "/api/v1/users/{uuid}", Role: Admin, Summary: "One user.",
			Response: store.User{},
			Handle:   func(c *Call) (any, error) { return s.deps.Store.GetUser(c.R.Context(), c.PathValue("uuid")) },
		},
		{
			Method: "PATCH", Path: "/api/v1/users/{uuid}", Role: Admin,
			Summary: "Change a user's role or disable it. The last enabled admin cannot be demoted or disabled (409).",
			Body:    UpdateUserRequest{}, Response: store.User{}, Errors: userConflicts,
			Handle: s.handleUpdateUser,
		},
		{
			Method: "POST", Path: "/api/v1/users/{uuid}/password", Role: Admin,
			Summary: "Set a user's password. Their earlier tokens stop working.",
			Body:    ResetPasswordRequest{}, Status: http.StatusNoContent,
			Handle: func(c *Call) (any, error) {
				req := c.Body.(*ResetPasswordRequest)
				hash, err := s.deps.Auth.HashPassword(req.Password)
				if err != nil {
					return nil, err
				}
				return nil, s.deps.Store.SetUserPassword(c.R.Context(), c.PathValue("uuid"), hash, req.MustChangePassword)
			},
		},
		{
			Method: "DELETE", Path: "/api/v1/users/{uuid}", Role: Admin,
			Summary: "Delete a user. The last enabled admin cannot be deleted (409).",
			Status:  http.StatusNoContent, Errors: userConflicts,
			Handle: func(c *Call) (any, error) { return nil, s.deps.Store.DeleteUser(c.R.Context(), c.PathValue("uuid")) },
		},
	}}
}

func (s *Server) handleCreateUser(c *Call) (any, error) {
	req := c.Body.(*CreateUserRequest)
	hash, err := s.deps.Auth.HashPassword(req.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.deps.Store.CreateUser(c.R.Context(), store.User{
		Username:           req.Username,
		PasswordHash:       hash,
		Role:               req.Role,
		MustChangePassword: req.MustChangePassword,
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("user created", "user", u.Username, "role", u.Role, "by", c.User.Username)
	return u, nil
}

func (s *Server) handleUpdateUser(c *Call) (any, error) {
	ctx := c.R.Context()
	id := c.PathValue("uuid")
	req := c.Body.(*UpdateUserRequest)

	if req.Role != nil {
		if !auth.ValidRole(*req.Role) {
			return nil, fieldError(http.StatusUnprocessableEntity, "role", "must be one of admin, viewer")
		}
		if err := s.deps.Store.SetUserRole(ctx, id, *req.Role); err != nil {
			return nil, err
		}
	}
	if req.Disabled != nil {
		if err := s.deps.Store.SetUserDisabled(ctx, id, *req.Disabled); err != nil {
			return nil, err
		}
	}
	u, err := s.deps.Store.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	s.log.Info("user updated", "user", u.Username, "role", u.Role, "disabled", u.Disabled, "by", c.User.Username)
	return u, nil
}
