from django.shortcuts import redirect, render


def home(request):
    """Landing page: therapists go to their dashboard, everyone else sees how booking works."""
    user = request.user
    if user.is_authenticated and user.is_therapist:
        return redirect("sessions:dashboard")
    return render(request, "sessions_app/home.html")
